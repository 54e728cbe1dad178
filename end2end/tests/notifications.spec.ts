import { expect, test, type Page } from "@playwright/test";
import { adminToken, hookUrl, receivedBy, signIn, userKey, waitForHydration, watchConsole } from "./helpers";

// These tests share one settings row: run them one after another.
test.describe.configure({ mode: "serial" });

async function openSettings(page: Page) {
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await expect(page.getByTestId("settings-form")).toBeVisible();
}

async function setSwitch(page: Page, testId: string, on: boolean) {
  const input = page.getByTestId(testId);
  if ((await input.isChecked()) !== on) await input.click();
  await expect(input).toBeChecked({ checked: on });
}

test("admin edits every field, sees validation errors, saves and finds the values after a reload", async ({ page }) => {
  const errors = watchConsole(page);
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  for (const kind of ["circuitBreaker", "dailyLeaderboard", "costAlert"]) {
    await setSwitch(page, `switch-${kind}`, true);
    await page.getByTestId(`field-${kind}-webhookUrl`).fill(hookUrl("ok", `save-${kind}`));
  }
  await expect(page.getByTestId("save-state")).toHaveAttribute("data-dirty", "true");

  await page.getByTestId("field-dailyLeaderboard-time").fill("25:00");
  await page.getByTestId("field-dailyLeaderboard-topN").fill("21");
  await page.getByTestId("field-costAlert-thresholdPercent").fill("49");
  await page.getByTestId("field-costAlert-checkIntervalMinutes").fill("5");
  await page.getByTestId("save-settings").click();
  await expect(page.getByTestId("field-dailyLeaderboard-time-error")).toHaveText("请输入 HH:mm 格式的时间(00:00-23:59)");
  await expect(page.getByTestId("field-dailyLeaderboard-topN-error")).toHaveText("取值范围为 1-20");
  await expect(page.getByTestId("field-costAlert-thresholdPercent-error")).toHaveText("取值范围为 50-100");
  await expect(page.getByTestId("field-costAlert-checkIntervalMinutes-error")).toHaveText("取值范围为 10-1440");
  await expect(page.getByTestId("toast-error")).toContainText("保存失败");

  // Errors follow the input once shown.
  await page.getByTestId("field-dailyLeaderboard-time").fill("18:45");
  await expect(page.getByTestId("field-dailyLeaderboard-time-error")).toHaveText("");
  await page.getByTestId("field-dailyLeaderboard-topN").fill("10");
  await page.getByTestId("field-costAlert-thresholdPercent").fill("90");
  await page.getByTestId("field-costAlert-checkIntervalMinutes").fill("90");
  await page.getByTestId("save-settings").click();
  await expect(page.getByTestId("toast-success")).toContainText("设置已保存");
  await expect(page.getByTestId("save-state")).toHaveAttribute("data-dirty", "false");

  await page.reload();
  await waitForHydration(page);
  await expect(page.getByTestId("master-switch")).toBeChecked();
  for (const kind of ["circuitBreaker", "dailyLeaderboard", "costAlert"]) {
    await expect(page.getByTestId(`switch-${kind}`)).toBeChecked();
    // Shown with the robot's key masked; it still means the stored URL.
    await expect(page.getByTestId(`field-${kind}-webhookUrl`)).toHaveValue(hookUrl("ok", "***"));
  }
  await page.getByTestId("test-costAlert").click();
  await expect(page.getByTestId("toast-success")).toContainText("企业微信机器人连接成功");
  expect(await receivedBy("save-costAlert")).toHaveLength(1);
  await expect(page.getByTestId("field-dailyLeaderboard-time")).toHaveValue("18:45");
  await expect(page.getByTestId("field-dailyLeaderboard-topN")).toHaveValue("10");
  await expect(page.getByTestId("field-costAlert-thresholdPercent")).toHaveValue("90");
  await expect(page.getByTestId("field-costAlert-checkIntervalMinutes")).toHaveValue("90");
  await expect(page.getByTestId("last-saved")).toContainText("admin");
  expect(errors).toEqual([]);
});

test("测试连接 reaches an allowlisted receiver with the spec's test message", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-costAlert", true);
  const key = `test-ok-${Date.now()}`;
  await page.getByTestId("field-costAlert-webhookUrl").fill(hookUrl("ok", key));
  await page.getByTestId("test-costAlert").click();
  await expect(page.getByTestId("toast-success")).toContainText("企业微信机器人连接成功");
  const got = await receivedBy(key);
  expect(got).toHaveLength(1);
  expect(got[0].body).toEqual({ msgtype: "markdown", markdown: { content: "**测试消息**\n企业微信机器人连接成功!" } });
});

test("测试连接 shows why a receiver failed", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-circuitBreaker", true);
  const url = page.getByTestId("field-circuitBreaker-webhookUrl");
  await url.fill(hookUrl("errcode", "fail-errcode"));
  await page.getByTestId("test-circuitBreaker").click();
  await expect(page.getByTestId("toast-error").last()).toContainText("errcode 93000");
  await url.fill(hookUrl("status403", "fail-403"));
  await page.getByTestId("test-circuitBreaker").click();
  await expect(page.getByTestId("toast-error").last()).toContainText("机器人被禁用或 Key 失效");
});

test("测试连接 to a non-allowlisted 127.0.0.1 address is refused", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-dailyLeaderboard", true);
  await page.getByTestId("field-dailyLeaderboard-webhookUrl").fill("http://127.0.0.1:9/cgi-bin/webhook/send?key=x");
  await page.getByTestId("test-dailyLeaderboard").click();
  await expect(page.getByTestId("toast-error")).toContainText("不允许访问");
  await expect(page.getByTestId("toast-error")).toContainText("使用公网可访问的地址");
});

test("switching the master off disables the cards", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-costAlert", true);
  await expect(page.getByTestId("field-costAlert-webhookUrl")).toBeEnabled();
  await setSwitch(page, "master-switch", false);
  await expect(page.getByTestId("master-off-notice")).toBeVisible();
  for (const kind of ["circuitBreaker", "dailyLeaderboard", "costAlert"]) {
    await expect(page.getByTestId(`switch-${kind}`)).toBeDisabled();
  }
  await expect(page.getByTestId("field-costAlert-webhookUrl")).toBeDisabled();
  await expect(page.getByTestId("field-costAlert-thresholdPercent")).toBeDisabled();
  await expect(page.getByTestId("test-costAlert")).toBeDisabled();
});

test("a kind's fields show only while its switch is on", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-circuitBreaker", false);
  await expect(page.getByTestId("field-circuitBreaker-webhookUrl")).toHaveCount(0);
  await setSwitch(page, "switch-circuitBreaker", true);
  await expect(page.getByTestId("field-circuitBreaker-webhookUrl")).toBeVisible();
});

test("leaving with unsaved changes asks first", async ({ page }) => {
  await openSettings(page);
  await setSwitch(page, "master-switch", !(await page.getByTestId("master-switch").isChecked()));
  await expect(page.getByTestId("save-state")).toContainText("有未保存的更改");
  let asked = "";
  page.once("dialog", (dialog) => {
    asked = dialog.message();
    dialog.dismiss();
  });
  await page.getByRole("link", { name: "仪表盘" }).click();
  await expect(page).toHaveURL(/\/settings\/notifications$/);
  expect(asked).toContain("未保存");
});

test("a non-admin never sees the page", async ({ page }) => {
  await signIn(page, userKey);
  await page.goto("/settings/notifications");
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("settings-form")).toHaveCount(0);
});
