// Issue 5 end to end: 立即发送 and the delivery history; ingested failures opening a breaker.
import { expect, test } from "@playwright/test";
import { adminToken, hookUrl, receivedBy, signIn, waitForHydration, watchConsole } from "./helpers";

const base = process.env.E2E_BASE_URL ?? "http://127.0.0.1:3000";
const ingestToken = process.env.E2E_INGEST_TOKEN ?? "";

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

function settings(urls: { breaker?: string; board?: string }) {
  return {
    enabled: true,
    circuitBreaker: { enabled: !!urls.breaker, webhookUrl: urls.breaker ?? null },
    dailyLeaderboard: { enabled: !!urls.board, webhookUrl: urls.board ?? null, time: "09:00", topN: 5 },
    costAlert: { enabled: false, webhookUrl: null, thresholdPercent: 80, checkIntervalMinutes: 60 },
  };
}

test("立即发送 sends the leaderboard, and 投递记录 shows it delivered", async ({ page }) => {
  const errors = watchConsole(page);
  const key = `board-${Date.now()}`;
  const saved = await api("PUT", "/api/v1/notifications/settings", adminToken, settings({ board: hookUrl("ok", key) }));
  expect(saved.status).toBe(200);

  // The newest leaderboard delivery before this send: the row this test looks for is newer.
  const before = await api("GET", "/api/v1/notifications/deliveries?kind=dailyLeaderboard&limit=1", adminToken);
  expect(before.status).toBe(200);
  const newestBefore: number = before.json.items[0]?.id ?? 0;

  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await page.getByTestId("run-dailyLeaderboard").click();
  await expect(page.getByTestId("toast-success")).toBeVisible();

  await expect.poll(async () => (await receivedBy(key)).length).toBe(1);
  const [message] = await receivedBy(key);
  expect(message.body.msgtype).toBe("markdown");
  expect(message.body.markdown.content).toMatch(/^## 今日用户消费排行榜\n> 统计日期: \*\*\d{4}-\d{2}-\d{2}\*\*/);

  await page.goto("/settings/notifications/deliveries?kind=dailyLeaderboard");
  await waitForHydration(page);
  const newest = page.getByTestId("delivery-row").first();
  await expect(newest).toHaveAttribute("data-kind", "dailyLeaderboard");
  await expect(newest).toHaveAttribute("data-status", "delivered");
  expect(Number(await newest.getAttribute("data-id")), "the row of this send").toBeGreaterThan(newestBefore);
  await expect(newest.getByTestId("delivery-target")).toHaveText(new URL(hookUrl("ok", key)).origin);
  await expect(page.getByTestId("deliveries-table")).not.toContainText(key);
  expect(errors).toEqual([]);
});

test("failing requests open a provider's breaker and the alert reaches the receiver", async () => {
  expect(ingestToken, "E2E_INGEST_TOKEN").not.toBe("");
  const key = `breaker-${Date.now()}`;
  const saved = await api("PUT", "/api/v1/notifications/settings", adminToken, settings({ breaker: hookUrl("ok", key) }));
  expect(saved.status).toBe(200);
  const providerId = 100_000 + Math.floor(Math.random() * 100_000);
  const events = Array.from({ length: 5 }, (_, i) => ({
    requestId: `${key}-${i}`,
    userId: 1001,
    userName: "测试用户",
    providerId,
    providerName: `E2E 供应商 ${providerId}`,
    model: "claude-sonnet-4",
    costUsd: 0,
    success: false,
    statusCode: 529,
    error: "overloaded_error: Overloaded",
    createdAt: new Date().toISOString(),
  }));
  const ingested = await api("POST", "/api/v1/usage", ingestToken, { events });
  expect(ingested.status).toBe(200);
  expect(ingested.json.accepted).toBe(5);

  const circuit = await api("GET", `/api/v1/providers/${providerId}/circuit`, ingestToken);
  expect(circuit.json.state).toBe("OPEN");
  await expect.poll(async () => (await receivedBy(key)).length).toBe(1);
  const [alert] = await receivedBy(key);
  const content: string = alert.body.markdown.content;
  expect(content).toContain(`> 供应商 **E2E 供应商 ${providerId}** (ID: ${providerId}) 已触发熔断保护`);
  expect(content).toContain("失败次数: 5 次");
  expect(content).toContain("最后错误: `overloaded_error: Overloaded`");
});
