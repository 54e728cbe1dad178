// 用户, 供应商 and the dashboard's own consumption: usage ingested through the gateway's API shows
// per window; quotas and breaker settings are edited inline, with problems next to their fields.
// Every run uses fresh user and provider ids, so reruns against one server do not collide.
import { expect, test, type Page } from "@playwright/test";
import { adminToken, expectFitsAt1280, signIn, userKey, userName, waitForHydration, watchConsole } from "./helpers";

const base = process.env.E2E_BASE_URL ?? "http://127.0.0.1:3000";
const ingestToken = process.env.E2E_INGEST_TOKEN ?? "";
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const freshId = () => 300_000 + Math.floor(Math.random() * 600_000);

interface Usage {
  userId: number;
  userName: string;
  providerId: number;
  providerName: string;
  costUsd: number;
  success?: boolean;
}

let sequence = 0;

async function ingest(events: Usage[]) {
  expect(ingestToken, "E2E_INGEST_TOKEN").not.toBe("");
  const res = await fetch(`${base}/api/v1/usage`, {
    method: "POST",
    headers: { authorization: `Bearer ${ingestToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      events: events.map((e) => ({
        requestId: `usage-${run}-${sequence++}`,
        model: "claude-sonnet-4",
        inputTokens: 1000,
        outputTokens: 200,
        statusCode: e.success === false ? 529 : 200,
        error: e.success === false ? "overloaded_error: Overloaded" : null,
        createdAt: new Date().toISOString(),
        ...e,
        success: e.success ?? true,
      })),
    }),
  });
  expect(res.status).toBe(200);
  const report = await res.json();
  expect(report.rejected).toEqual([]);
  expect(report.accepted).toBe(events.length);
}

async function open(page: Page, path: string) {
  await page.goto(path);
  await waitForHydration(page);
}

test("用户 lists a user's spending per window and edits its quotas", async ({ page }) => {
  const errors = watchConsole(page);
  const userId = freshId();
  const name = `E2E 用户 ${run}`;
  const providerId = freshId();
  await ingest([
    { userId, userName: name, providerId, providerName: `E2E 供应商 ${run}`, costUsd: 1.5 },
    { userId, userName: name, providerId, providerName: `E2E 供应商 ${run}`, costUsd: 0.25 },
  ]);

  await signIn(page, adminToken);
  await open(page, "/settings/notifications");
  await page.getByRole("link", { name: "用户", exact: true }).click();
  await expect(page).toHaveURL(/\/settings\/users$/);
  await expect(page.getByTestId("users-title")).toHaveText("用户");

  const row = page.locator(`[data-testid="user-row"][data-id="${userId}"]`);
  await expect(row.getByTestId("user-name")).toHaveText(name);
  await expect(row.getByTestId("user-id")).toHaveText(String(userId));
  for (const window of ["5h", "day", "week", "month"]) {
    const meter = row.getByTestId(`usage-${window}`);
    await expect(meter.getByTestId("usage-spent")).toHaveText("$1.7500");
    await expect(meter.getByTestId("usage-limit")).toContainText("不限额");
    await expect(meter).toHaveAttribute("data-level", "none");
  }

  // An invalid amount is named next to its field, and nothing is sent.
  await row.getByTestId("edit-user").click();
  const form = page.locator(`[data-testid="quota-form"][data-id="${userId}"]`);
  await expect(form).toBeVisible();
  await form.getByTestId("field-limitDailyUsd").fill("-5");
  await form.getByTestId("save-quotas").click();
  await expect(form.getByTestId("field-limitDailyUsd-error")).toContainText("金额");
  await expect(page.getByTestId("toast-error")).toBeVisible();
  await expect(form.getByTestId("field-limit5hUsd-error")).toBeEmpty();

  // Fixing it clears the problem as you type; saving shows the quota against the spending.
  await form.getByTestId("field-limitDailyUsd").fill("2");
  await expect(form.getByTestId("field-limitDailyUsd-error")).toBeEmpty();
  await form.getByTestId("field-limitWeeklyUsd").fill("1.75");
  await form.getByTestId("save-quotas").click();
  await expect(page.getByTestId("toast-success")).toContainText(name);
  await expect(form).toBeHidden();
  const day = row.getByTestId("usage-day");
  await expect(day.getByTestId("usage-limit")).toHaveText("$2.0000");
  await expect(day.getByTestId("usage-percent")).toHaveText("87.5%");
  await expect(day).toHaveAttribute("data-level", "yellow");
  const week = row.getByTestId("usage-week");
  await expect(week.getByTestId("usage-percent")).toHaveText("100.0%");
  await expect(week).toHaveAttribute("data-level", "red");
  await expect(row.getByTestId("usage-5h")).toHaveAttribute("data-level", "none");

  // The saved values come back in the form.
  await row.getByTestId("edit-user").click();
  await expect(form.getByTestId("field-limitDailyUsd")).toHaveValue("2");
  await expect(form.getByTestId("field-limitWeeklyUsd")).toHaveValue("1.75");
  await expect(form.getByTestId("field-limit5hUsd")).toHaveValue("");
  await form.getByTestId("cancel-edit").click();
  await expect(form).toBeHidden();

  // The same after a reload (rendered by the server).
  await open(page, "/settings/users");
  await expect(row.getByTestId("usage-day").getByTestId("usage-percent")).toHaveText("87.5%");
  expect(errors).toEqual([]);
});

test("供应商 shows an open breaker and edits breaker settings", async ({ page }) => {
  const errors = watchConsole(page);
  const providerId = freshId();
  const providerName = `E2E 熔断 ${run}`;
  const failure = { userId: 1001, userName, providerId, providerName, costUsd: 0, success: false };
  await ingest([failure, failure, failure, failure, failure]);

  await signIn(page, adminToken);
  await open(page, "/settings/providers");
  await expect(page.getByTestId("providers-title")).toHaveText("供应商");
  const row = page.locator(`[data-testid="provider-row"][data-id="${providerId}"]`);
  await expect(row.getByTestId("provider-name")).toHaveText(providerName);
  await expect(row).toHaveAttribute("data-state", "OPEN");
  await expect(row.getByTestId("circuit-state")).toHaveText("打开");
  await expect(row.getByTestId("circuit-open-until")).toContainText(/至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/);
  await expect(row.getByTestId("breaker-settings")).toContainText("连续失败 5 次熔断");
  await expect(row.getByTestId("breaker-settings")).toContainText("30 分钟");
  await expect(row.getByTestId("usage-week").getByTestId("usage-spent")).toHaveText("$0.0000");

  await row.getByTestId("edit-provider").click();
  const form = page.locator(`[data-testid="provider-form"][data-id="${providerId}"]`);
  await expect(form.getByTestId("field-circuitBreaker-failureThreshold")).toHaveValue("5");
  await form.getByTestId("field-circuitBreaker-failureThreshold").fill("0");
  await form.getByTestId("field-circuitBreaker-openDurationMs").fill("500");
  await form.getByTestId("save-provider").click();
  await expect(form.getByTestId("field-circuitBreaker-failureThreshold-error")).toContainText("1-100");
  await expect(form.getByTestId("field-circuitBreaker-openDurationMs-error")).toContainText("1000-86400000");

  await form.getByTestId("field-circuitBreaker-failureThreshold").fill("3");
  await form.getByTestId("field-circuitBreaker-openDurationMs").fill("60000");
  await form.getByTestId("field-circuitBreaker-halfOpenSuccessThreshold").fill("1");
  await form.getByTestId("field-limitMonthlyUsd").fill("500");
  await form.getByTestId("save-provider").click();
  await expect(page.getByTestId("toast-success")).toContainText(providerName);
  await expect(form).toBeHidden();
  await expect(row.getByTestId("breaker-settings")).toContainText("连续失败 3 次熔断");
  await expect(row.getByTestId("breaker-settings")).toContainText("1 分钟");
  await expect(row.getByTestId("breaker-settings")).toContainText("半开成功 1 次恢复");
  await expect(row.getByTestId("usage-month").getByTestId("usage-limit")).toHaveText("$500.0000");
  // Still open: the new settings apply from the next reported outcome.
  await expect(row).toHaveAttribute("data-state", "OPEN");

  // The gateway's view agrees.
  const circuit = await fetch(`${base}/api/v1/providers/${providerId}/circuit`, {
    headers: { authorization: `Bearer ${ingestToken}` },
  });
  expect((await circuit.json()).state).toBe("OPEN");
  expect(errors).toEqual([]);
});

test("a user sees their own consumption on the dashboard; the admin a link to 用户", async ({ page }) => {
  const errors = watchConsole(page);
  await ingest([
    { userId: 1001, userName, providerId: freshId(), providerName: `E2E 供应商 ${run}`, costUsd: 0.3 },
  ]);

  await signIn(page, userKey);
  await waitForHydration(page);
  const mine = page.getByTestId("my-usage");
  await expect(mine).toBeVisible();
  await expect(mine).toContainText("我的用量");
  for (const window of ["5h", "day", "week", "month"]) {
    const spent = mine.getByTestId(`my-usage-${window}`).getByTestId("usage-spent");
    await expect(spent).toHaveText(/^\$\d+\.\d{4}$/);
    const amount = Number((await spent.textContent())!.slice(1));
    expect(amount, window).toBeGreaterThanOrEqual(0.3);
  }
  await expect(page.getByTestId("admin-usage-hint")).toHaveCount(0);
  expect(errors).toEqual([]);

  // The admin has no usage of its own: a pointer to 设置 › 用户 instead.
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/login/);
  await signIn(page, adminToken);
  await waitForHydration(page);
  await expect(page.getByTestId("my-usage")).toHaveCount(0);
  await page.getByTestId("users-link").click();
  await expect(page).toHaveURL(/\/settings\/users$/);
  await expect(page.getByTestId("users-table")).toBeVisible();
});

test("用户 and 供应商 fit a 1280 px screen, open form included, in both languages", async ({ page }) => {
  const errors = watchConsole(page);
  const userId = freshId();
  const providerId = freshId();
  // Long names and five-figure amounts: the widest cells these pages show.
  const name = `E2E 一个名字很长的网关用户 ${run}`;
  const providerName = `E2E 一个名字很长的上游供应商 ${run}`;
  await ingest([{ userId, userName: name, providerId, providerName, costUsd: 12345.67 }]);

  await signIn(page, adminToken);
  for (const language of ["zh", "en"]) {
    for (const [path, rowId, edit] of [
      ["/settings/users", "user-row", "edit-user"],
      ["/settings/providers", "provider-row", "edit-provider"],
    ]) {
      await open(page, path);
      if (language === "en" && (await page.locator("html").getAttribute("lang")) !== "en") {
        await page.getByTestId("language-switch").click();
        await expect(page.locator("html")).toHaveAttribute("lang", "en");
      }
      const row = page.locator(`[data-testid="${rowId}"][data-id="${path.endsWith("users") ? userId : providerId}"]`);
      await expect(row).toBeVisible();
      await expectFitsAt1280(page);
      await row.getByTestId(edit).click();
      await expect(page.locator(".edit-form")).toBeVisible();
      await expectFitsAt1280(page);
    }
  }
  expect(errors).toEqual([]);
});
