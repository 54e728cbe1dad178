// 推送目标 end to end: a signed Feishu target on the local receiver (end2end/receiver.mjs answers
// like a Feishu bot with 签名校验 on), its tests, binding it beside a WeCom target on 消息推送,
// the target filter of 投递记录, and the admin-only rules.
import { expect, test, type Locator, type Page } from "@playwright/test";
import {
  adminToken,
  expectFitsAt1280,
  feishuSecret,
  hookUrl,
  receivedBy,
  receiverUrl,
  signIn,
  userKey,
  waitForHydration,
  watchConsole,
} from "./helpers";

// They share the 消息推送 settings row and the targets they create.
test.describe.configure({ mode: "serial" });

const TARGETS = "/settings/notifications/targets";
const run = Date.now().toString(36);
const feishuName = `E2E 飞书 ${run}`;
const wecomName = `E2E 企业微信 ${run}`;
const feishuKey = `feishu-${run}`;

async function openTargets(page: Page) {
  await page.goto(TARGETS);
  await waitForHydration(page);
  await expect(page.getByTestId("targets-title")).toBeVisible();
}

function targetRow(page: Page, name: string): Locator {
  return page.getByTestId("target-row").filter({ has: page.getByTestId("target-name").getByText(name, { exact: true }) });
}

/** Fills the open create form and saves it. */
async function createTarget(page: Page, name: string, channel: string, url: string, secret?: string) {
  await page.getByTestId("add-target").click();
  const form = page.locator('[data-testid="target-form"][data-id="0"]');
  await expect(form).toBeVisible();
  await form.getByTestId("field-name").fill(name);
  await form.getByTestId("field-webhookUrl").fill(url);
  // 127.0.0.1 is no platform's host: nothing is detected, the channel is picked.
  await expect(form.getByTestId("detected-channel")).toHaveCount(0);
  await form.getByTestId("field-channel").selectOption(channel);
  if (secret !== undefined) await form.getByTestId("field-secret").fill(secret);
  await form.getByTestId("save-target").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(`已新建推送目标 ${name}`);
  await expect(targetRow(page, name)).toBeVisible();
  return (await targetRow(page, name).getAttribute("data-id"))!;
}

async function testRow(page: Page, name: string, kind: string) {
  const row = targetRow(page, name);
  await row.getByTestId("target-test-kind").selectOption(kind);
  await row.getByTestId("test-target").click();
}

/** Opens the row's form, types a new secret (or leaves it) and saves. */
async function editSecret(page: Page, name: string, id: string, secret: string | null) {
  await targetRow(page, name).getByTestId("edit-target").click();
  const form = page.locator(`[data-testid="target-form"][data-id="${id}"]`);
  const field = form.getByTestId("field-secret");
  await expect(field).toHaveAttribute("placeholder", "已设置 · 重新输入");
  await expect(field).toHaveValue("");
  if (secret !== null) await field.fill(secret);
  await form.getByTestId("save-target").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(`已保存 ${name}`);
  await expect(form).toHaveCount(0);
}

async function setSwitch(page: Page, testId: string, on: boolean) {
  const input = page.getByTestId(testId);
  if ((await input.isChecked()) !== on) await input.click();
  await expect(input).toBeChecked({ checked: on });
}

let feishuId = "";
let wecomId = "";

test("a signed Feishu target on the receiver: created, tested, a wrong secret shows 19021", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await openTargets(page);
  await expect(page.getByRole("navigation", { name: "settings" }).getByRole("link", { name: "推送目标" })).toBeVisible();

  feishuId = await createTarget(page, feishuName, "feishu", `${receiverUrl}/feishu?key=${feishuKey}`, feishuSecret);
  const row = targetRow(page, feishuName);
  await expect(row.getByTestId("channel-badge")).toHaveAttribute("data-channel", "feishu");
  await expect(row.getByTestId("channel-badge")).toHaveText("飞书");
  await expect(row.getByTestId("target-endpoint")).toHaveText(receiverUrl);
  await expect(row.getByTestId("last-test-none")).toHaveText("尚未测试");

  await testRow(page, feishuName, "costAlert");
  await expect(page.getByTestId("toast-success").last()).toContainText("测试消息已送达");
  await expect(row.getByTestId("last-test-result")).toHaveAttribute("data-ok", "true");
  await expect(row.getByTestId("last-test-latency")).toContainText("ms");
  const got = await receivedBy(feishuKey);
  expect(got.length).toBeGreaterThan(0);
  expect(got.at(-1)!.path).toBe("/feishu");
  expect(typeof got.at(-1)!.body.sign).toBe("string");

  // A wrong secret: Feishu's own refusal, in the toast and in the row's last test.
  await editSecret(page, feishuName, feishuId, "SECwrongSecret");
  await testRow(page, feishuName, "circuitBreaker");
  await expect(page.getByTestId("toast-error").last()).toContainText("19021");
  await expect(row.getByTestId("last-test-result")).toHaveAttribute("data-ok", "false");
  await expect(row.getByTestId("last-test-error")).toContainText("19021");

  // The right one again; then an edit that leaves the secret blank keeps it.
  await editSecret(page, feishuName, feishuId, feishuSecret);
  await editSecret(page, feishuName, feishuId, null);
  await testRow(page, feishuName, "dailyLeaderboard");
  await expect(page.getByTestId("toast-success").last()).toContainText("测试消息已送达");
  await expect(row.getByTestId("last-test-result")).toHaveAttribute("data-ok", "true");

  // The switch saves at once.
  await row.getByTestId("target-enabled").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(`已停用 ${feishuName}`);
  await page.reload();
  await waitForHydration(page);
  await expect(targetRow(page, feishuName).getByTestId("target-enabled")).not.toBeChecked();
  await targetRow(page, feishuName).getByTestId("target-enabled").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(`已启用 ${feishuName}`);
  await expect(targetRow(page, feishuName).getByTestId("target-enabled")).toBeChecked();

  wecomId = await createTarget(page, wecomName, "wecom", hookUrl("ok", `wecom-${run}`));
  await expect(targetRow(page, wecomName).getByTestId("channel-badge")).toHaveText("企业微信");
  // The failed test's answer (502) is the only thing the browser may complain about.
  expect(errors.filter((e) => !e.includes("502"))).toEqual([]);
});

test("the form checks fields as the server does: a template that is no JSON object", async ({ page }) => {
  await signIn(page, adminToken);
  await openTargets(page);
  await page.getByTestId("add-target").click();
  const form = page.locator('[data-testid="target-form"][data-id="0"]');
  await form.getByTestId("field-name").fill(`E2E 模板 ${run}`);
  await form.getByTestId("field-channel").selectOption("custom");
  await form.getByTestId("field-webhookUrl").fill(hookUrl("ok", `custom-${run}`));
  await form.getByTestId("field-template").fill("[1, 2]");
  await form.getByTestId("save-target").click();
  await expect(form.getByTestId("field-template-error")).toHaveText("模板必须是 JSON 对象(以 { 开头)");
  await form.getByTestId("field-template").fill('{"a": ');
  await expect(form.getByTestId("field-template-error")).toContainText("不是有效的 JSON");
  await form.getByTestId("field-template").fill('{"text": "{{title}}"}');
  await expect(form.getByTestId("field-template-error")).toHaveText("");
  // A pasted Slack URL names its platform.
  await form.getByTestId("field-channel").selectOption("");
  await form.getByTestId("field-webhookUrl").fill("https://hooks.slack.com/services/T000/B000/XXXX");
  await expect(form.getByTestId("detected-channel")).toHaveAttribute("data-channel", "slack");
  await expect(form.getByTestId("field-channel")).toHaveValue("slack");
  await form.getByTestId("cancel-edit").click();
  await expect(form).toHaveCount(0);
});

test("成本预警 goes to the Feishu target beside a WeCom target; both stay bound after a reload", async ({ page }) => {
  const errors = watchConsole(page);
  expect(feishuId && wecomId).toBeTruthy();
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-costAlert", true);
  const card = page.getByTestId("card-costAlert");
  const bound = (id: string) => card.locator(`[data-testid="bound-target"][data-id="${id}"]`);
  for (const id of [feishuId, wecomId]) {
    // The targets load in the browser: wait until the target is either bound or offered.
    const offered = card.locator(`[data-testid="pick-target-costAlert"] option[value="${id}"]`);
    await expect(bound(id).or(offered)).toHaveCount(1);
    if ((await bound(id).count()) === 0) {
      await card.getByTestId("pick-target-costAlert").selectOption(id);
      await card.getByTestId("add-target-costAlert").click();
    }
    await expect(bound(id)).toBeVisible();
  }
  await expect(bound(feishuId).getByTestId("channel-badge")).toHaveText("飞书");
  await expect(bound(wecomId).getByTestId("channel-badge")).toHaveText("企业微信");

  await bound(feishuId).getByTestId("bound-target-test").click();
  await expect(page.getByTestId("toast-success").last()).toContainText("测试消息已送达");

  await page.getByTestId("save-settings").click();
  await expect(page.getByTestId("toast-success").last()).toContainText("设置已保存");
  await expect(page.getByTestId("save-state")).toHaveAttribute("data-dirty", "false");

  await page.reload();
  await waitForHydration(page);
  await expect(bound(feishuId)).toBeVisible();
  await expect(bound(wecomId)).toBeVisible();
  await expect(bound(feishuId)).toContainText(feishuName);

  // 推送目标 shows the binding.
  await openTargets(page);
  await expect(targetRow(page, feishuName).getByTestId("target-kinds")).toContainText("成本预警");
  expect(errors).toEqual([]);
});

test("a pasted URL on 消息推送 shows its platform, names the new target and binds it", async ({ page }) => {
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await setSwitch(page, "master-switch", true);
  await setSwitch(page, "switch-costAlert", true);
  const card = page.getByTestId("card-costAlert");
  const url = card.getByTestId("field-costAlert-newTarget-webhookUrl");
  const name = card.getByTestId("field-costAlert-newTarget-name");
  await url.fill("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e");
  await expect(card.getByTestId("detected-costAlert")).toHaveAttribute("data-channel", "feishu");
  await expect(name).toHaveValue("飞书 · 成本预警");
  // The receiver instead, as a WeCom robot.
  await url.fill(hookUrl("ok", `pasted-${run}`));
  await expect(card.getByTestId("detected-costAlert")).toHaveCount(0);
  await card.getByTestId("new-target-channel-costAlert").selectOption("wecom");
  await expect(name).toHaveValue("企业微信 · 成本预警");
  const ownName = `E2E 粘贴 ${run}`;
  await name.fill(ownName);
  await card.getByTestId("create-target-costAlert").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(ownName);
  const pasted = card.getByTestId("bound-target").filter({ hasText: ownName });
  await expect(pasted).toBeVisible();
  await expect(page.getByTestId("save-state")).toHaveAttribute("data-dirty", "true");
  await page.getByTestId("save-settings").click();
  await expect(page.getByTestId("toast-success").last()).toContainText("设置已保存");
  await page.reload();
  await waitForHydration(page);
  await expect(card.getByTestId("bound-target").filter({ hasText: ownName })).toBeVisible();
  // Removed from the kind: gone after saving.
  await card.getByTestId("bound-target").filter({ hasText: ownName }).getByTestId("bound-target-remove").click();
  await page.getByTestId("save-settings").click();
  await expect(page.getByTestId("toast-success").last()).toContainText("设置已保存");
  await page.reload();
  await waitForHydration(page);
  await expect(card.locator(`[data-testid="bound-target"][data-id="${feishuId}"]`)).toBeVisible();
  await expect(card.getByTestId("bound-target").filter({ hasText: ownName })).toHaveCount(0);
});

test("投递记录 filters by push target", async ({ page }) => {
  await signIn(page, adminToken);
  await page.goto("/settings/notifications/deliveries");
  await waitForHydration(page);
  const select = page.getByTestId("deliveries-filter-target");
  await expect(select.locator(`option[value="${feishuId}"]`)).toHaveCount(1);
  await select.selectOption(feishuId);
  await expect(page).toHaveURL(new RegExp(`[?&]target=${feishuId}(&|$)`));
  await expect(page.getByTestId("deliveries-loading")).toHaveCount(0);
  // Every row shown went to that target.
  for (const name of await page.getByTestId("delivery-target-name").allTextContents()) {
    expect(name).toBe(feishuName);
  }
  await select.selectOption("");
  await expect(page).not.toHaveURL(/target=/);
});

test("推送目标 fits a 1280 px screen, open form included, in both languages", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await openTargets(page);
  await expect(page.getByTestId("targets-title")).toHaveText("推送目标");
  await expect(page.getByTestId("targets-table").locator("th").nth(2)).toHaveText("绑定的通知");
  await expectFitsAt1280(page);
  await targetRow(page, feishuName).getByTestId("edit-target").click();
  await expect(page.locator(".edit-form")).toBeVisible();
  await expectFitsAt1280(page);

  await page.getByTestId("language-switch").click();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.getByTestId("targets-title")).toHaveText("Push targets");
  await expect(page.getByTestId("targets-table").locator("th").nth(2)).toHaveText("Bound notifications");
  await expect(targetRow(page, feishuName).getByTestId("channel-badge")).toHaveText("Feishu");
  await expect(page.locator(".edit-form").getByTestId("field-secret")).toHaveAttribute("placeholder", "Set · type to replace");
  await expectFitsAt1280(page);
  await page.getByTestId("cancel-edit").click();
  await expectFitsAt1280(page);
  expect(errors).toEqual([]);
});

test("deleting a target says which notifications lose it", async ({ page }) => {
  await signIn(page, adminToken);
  await openTargets(page);
  let asked = "";
  page.once("dialog", (dialog) => {
    asked = dialog.message();
    dialog.accept();
  });
  await targetRow(page, wecomName).getByTestId("delete-target").click();
  await expect(page.getByTestId("toast-success").last()).toContainText(`已删除 ${wecomName}`);
  await expect(page.getByTestId("toast-success").last()).toContainText("成本预警");
  expect(asked).toContain(wecomName);
  expect(asked).toContain("成本预警");
  await expect(targetRow(page, wecomName)).toHaveCount(0);
});

test("a non-admin lands on the dashboard and the targets API answers 403", async ({ browser, page }) => {
  // A server function's URL carries a build hash: learn it from the admin's 消息推送, which
  // lists the targets from the browser.
  const admin = await browser.newContext();
  const adminPage = await admin.newPage();
  await signIn(adminPage, adminToken);
  const listCall = adminPage.waitForRequest((r) => r.url().includes("list_push_targets"));
  await adminPage.goto("/settings/notifications");
  const listUrl = (await listCall).url();
  await admin.close();

  await signIn(page, userKey);
  await page.goto(TARGETS);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("targets-title")).toHaveCount(0);
  await expect(page.getByRole("link", { name: "推送目标" })).toHaveCount(0);

  const api = await page.request.get("/api/v1/notifications/targets");
  expect(api.status()).toBe(403);
  const fn = await page.request.post(listUrl, {
    headers: { "content-type": "application/x-www-form-urlencoded" },
    data: "",
  });
  expect(fn.status()).toBe(403);
});
