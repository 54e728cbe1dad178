import { expect, test, type Page } from "@playwright/test";
import { adminToken, expectFitsAt1280, psql, signIn, sqlText, userKey, waitForHydration, watchConsole } from "./helpers";

// 投递记录: records are seeded straight into the server's database. The tests only read them, so
// they share one seeding; every row carries this run's marker, and assertions look at our rows
// only (other specs may add deliveries of their own).
test.describe.configure({ mode: "serial" });
// Times show in APP_TIMEZONE (Asia/Shanghai here), as the messages write them, whatever the
// browser's own zone: give it another one.
test.use({ timezoneId: "America/New_York" });

const PATH = "/settings/notifications/deliveries";
const KINDS = ["circuitBreaker", "dailyLeaderboard", "costAlert"] as const;
const STATUSES = ["pending", "sending", "delivered", "failed"] as const;
const KIND_TEXT = { circuitBreaker: "熔断器告警", dailyLeaderboard: "每日排行榜", costAlert: "成本预警" };
const STATUS_TEXT = { pending: "待发送", sending: "发送中", delivered: "已送达", failed: "失败" };
const COUNT = 25;

const marker = `e2e${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const pad = (n: number) => String(n).padStart(2, "0");

interface Seed {
  n: number;
  id: number;
  kind: (typeof KINDS)[number];
  status: (typeof STATUSES)[number];
  host: string;
  url: string;
  content: string;
  attempts: number;
  lastError: string | null;
  /** RFC 3339, UTC. */
  createdAt: string;
  /** The same instant in APP_TIMEZONE (Asia/Shanghai). */
  localTime: string;
}

/** Row n (1 = oldest, 25 = newest): kinds and statuses cycle so every filter has several rows. */
function makeSeed(n: number): Seed {
  const kind = KINDS[n % KINDS.length];
  const status = STATUSES[n % STATUSES.length];
  const host = `https://hook${n % 2}.${marker}.example.com`;
  return {
    n,
    id: 0,
    kind,
    status,
    host,
    url: `${host}/cgi-bin/webhook/send?key=SECRET-${marker}-${pad(n)}`,
    content:
      `## 测试通知 ${marker} #${pad(n)}\n\n> 类型:${kind}\n> 状态:${status}\n\n` +
      `这是一条用于端到端测试的投递记录,内容足够长,表格里只显示前 80 个字符的预览,展开后才能看到全文。\n\n` +
      `尾注 ${marker}-${pad(n)}-END`,
    attempts: status === "pending" ? 0 : status === "failed" ? 3 : 1,
    lastError: status === "failed" ? `HTTP 500 (${marker}-${pad(n)})` : null,
    createdAt: `2026-11-20T06:${pad(n)}:07Z`,
    localTime: `2026-11-20 14:${pad(n)}:07`,
  };
}

const seeds: Seed[] = Array.from({ length: COUNT }, (_, i) => makeSeed(i + 1));
const byId = new Map<number, Seed>();
/** Newest first, as the page lists them. */
const newestFirst = (list: Seed[]) => list.map((s) => s.n).sort((a, b) => b - a);
const seed = (n: number) => seeds[n - 1];

// The server's outbox sweeper sends unfinished rows that never reached Redis and re-sends those
// idle for minutes: these rows count as enqueued (enqueued_at) and as touched until tomorrow
// (updated_at), so the sweeper leaves them as seeded; finished rows are kept from pruning the same
// way.
const UNTOUCHED = "now() + interval '1 day'";

test.beforeAll(() => {
  // One statement per row, oldest first, so ids grow with n.
  const sql = seeds
    .map(
      (s) =>
        `INSERT INTO notification_deliveries ` +
        `(kind, target_url, target_host, content, dedup_key, status, attempts, last_error, ` +
        `enqueued_at, created_at, updated_at) ` +
        `VALUES (${sqlText(s.kind)}, ${sqlText(s.url)}, ${sqlText(s.host)}, ${sqlText(s.content)}, ` +
        `${sqlText(`${marker}-${s.n}`)}, ${sqlText(s.status)}, ${s.attempts}, ${sqlText(s.lastError)}, ` +
        `${sqlText(s.createdAt)}, ${sqlText(s.createdAt)}, ${UNTOUCHED}) RETURNING id;`,
    )
    .join("\n");
  const ids = psql(sql).map(Number);
  expect(ids).toHaveLength(COUNT);
  ids.forEach((id, i) => {
    seeds[i].id = id;
    byId.set(id, seeds[i]);
  });
});

const rows = (page: Page) => page.getByTestId("delivery-row");
const row = (page: Page, s: Seed) => page.locator(`[data-testid="delivery-row"][data-id="${s.id}"]`);

/** The ids of the rows shown, in order. */
async function shownIds(page: Page): Promise<number[]> {
  return rows(page).evaluateAll((els) => els.map((el) => Number(el.getAttribute("data-id"))));
}

/** Our rows shown, as their n, in order. */
async function shownSeeds(page: Page): Promise<number[]> {
  return (await shownIds(page)).filter((id) => byId.has(id)).map((id) => byId.get(id)!.n);
}

async function firstId(page: Page): Promise<number | null> {
  return (await shownIds(page))[0] ?? null;
}

async function openHistory(page: Page, query = "") {
  await signIn(page, adminToken);
  await page.goto(PATH + query);
  await waitForHydration(page);
}

test("lists the records newest first, with APP_TIMEZONE times, hosts only and localized labels", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  const nav = page.getByRole("navigation", { name: "settings" });
  await nav.getByRole("link", { name: "投递记录" }).click();
  await expect(page).toHaveURL(new RegExp(`${PATH}$`));
  await expect(page.getByTestId("deliveries-title")).toHaveText("投递记录");
  await expect(nav.getByRole("link", { name: "投递记录" })).toHaveAttribute("aria-current", "page");
  await expect(page.getByTestId("deliveries-table")).toBeVisible();

  // Newest first: ids fall down the page, and our newest row leads our rows.
  const ids = await shownIds(page);
  expect(ids.length).toBeGreaterThan(0);
  expect(ids.length).toBeLessThanOrEqual(20);
  expect([...ids].sort((a, b) => b - a)).toEqual(ids);
  const ours = await shownSeeds(page);
  expect(ours[0]).toBe(COUNT);
  expect(ours).toEqual(newestFirst(seeds).slice(0, ours.length));

  for (const s of [seed(COUNT), seed(COUNT - 1), seed(COUNT - 2), seed(COUNT - 3)]) {
    const r = row(page, s);
    await expect(r).toHaveAttribute("data-kind", s.kind);
    await expect(r).toHaveAttribute("data-status", s.status);
    await expect(r.getByTestId("delivery-kind")).toHaveText(KIND_TEXT[s.kind]);
    await expect(r.getByTestId("delivery-status")).toHaveText(STATUS_TEXT[s.status]);
    await expect(r.getByTestId("delivery-target")).toHaveText(s.host);
    await expect(r.getByTestId("delivery-attempts")).toHaveText(String(s.attempts));
    await expect(r.getByTestId("delivery-error")).toHaveText(s.lastError ?? "—");
    const time = r.getByTestId("delivery-time");
    await expect(time).toHaveText(s.localTime);
    const written = await time.getAttribute("datetime");
    expect(new Date(written!).toISOString()).toBe(new Date(s.createdAt).toISOString());
    await expect(time).toHaveAttribute("title", written!);
  }

  // The webhook's path and key never reach the browser: not in the table, not in the page's data.
  const html = await page.content();
  expect(html).not.toContain(`SECRET-${marker}`);
  expect(html).not.toContain("/cgi-bin/webhook/send");
  expect(await page.locator("body").innerText()).not.toContain("SECRET");

  // The server renders the same page for a fresh load.
  await page.reload();
  await waitForHydration(page);
  await expect(row(page, seed(COUNT)).getByTestId("delivery-time")).toHaveText(seed(COUNT).localTime);
  expect(errors).toEqual([]);
});

test("the kind and status filters reload the first page and live in the URL", async ({ page }) => {
  const errors = watchConsole(page);
  await openHistory(page);
  const kind = page.getByTestId("deliveries-filter-kind");
  const status = page.getByTestId("deliveries-filter-status");
  await expect(kind).toHaveValue("");
  await expect(kind.locator("option")).toHaveText(["全部", "熔断器告警", "每日排行榜", "成本预警"]);
  await expect(status.locator("option")).toHaveText(["全部", "待发送", "发送中", "已送达", "失败"]);

  await kind.selectOption("costAlert");
  await expect(page).toHaveURL(new RegExp(`${PATH}\\?kind=costAlert$`));
  await expect(page.locator('[data-testid="delivery-row"]:not([data-kind="costAlert"])')).toHaveCount(0);
  await expect.poll(() => shownSeeds(page)).toEqual(newestFirst(seeds.filter((s) => s.kind === "costAlert")));

  await status.selectOption("failed");
  await expect(page).toHaveURL(new RegExp(`${PATH}\\?kind=costAlert&status=failed$`));
  const costFailed = newestFirst(seeds.filter((s) => s.kind === "costAlert" && s.status === "failed"));
  expect(costFailed.length).toBeGreaterThan(0);
  await expect.poll(() => shownSeeds(page)).toEqual(costFailed);
  await expect(page.locator('[data-testid="delivery-row"]:not([data-status="failed"])')).toHaveCount(0);
  await expect(page.locator('[data-testid="delivery-row"]:not([data-kind="costAlert"])')).toHaveCount(0);

  // A reload keeps the view: the server renders it from the URL.
  await page.reload();
  await waitForHydration(page);
  await expect(kind).toHaveValue("costAlert");
  await expect(status).toHaveValue("failed");
  await expect.poll(() => shownSeeds(page)).toEqual(costFailed);

  // Back to every kind, still only failures.
  await kind.selectOption("");
  await expect(page).toHaveURL(new RegExp(`${PATH}\\?status=failed$`));
  await expect.poll(() => shownSeeds(page)).toEqual(newestFirst(seeds.filter((s) => s.status === "failed")));
  await expect(page.locator('[data-testid="delivery-row"]:not([data-status="failed"])')).toHaveCount(0);

  // The browser's back button returns to the previous filters.
  await page.goBack();
  await expect(page).toHaveURL(new RegExp(`${PATH}\\?kind=costAlert&status=failed$`));
  await expect(kind).toHaveValue("costAlert");
  await expect.poll(() => shownSeeds(page)).toEqual(costFailed);
  expect(errors).toEqual([]);
});

test("pages to older records and back to the newest", async ({ page }) => {
  const errors = watchConsole(page);
  await openHistory(page);
  await expect(page.getByTestId("deliveries-table")).toBeVisible();
  await expect(page.getByTestId("deliveries-newest")).toHaveCount(0);
  await expect(page.getByTestId("deliveries-prev")).toHaveCount(0);

  // Walk every page: together they list each of our rows once, newest first.
  const firstIds: (number | null)[] = [await firstId(page)];
  const seen: number[] = await shownSeeds(page);
  expect(seen.length).toBeLessThan(COUNT); // 25 rows do not fit on one page of 20
  while ((await page.getByTestId("deliveries-next").count()) > 0) {
    expect(firstIds.length).toBeLessThan(50);
    const previousFirst = firstIds[firstIds.length - 1];
    await page.getByTestId("deliveries-next").click();
    await expect(page).toHaveURL(/[?&]before=\d+$/);
    await expect.poll(() => firstId(page)).not.toBe(previousFirst);
    await expect(page.getByTestId("deliveries-newest")).toBeVisible();
    await expect(page.getByTestId("deliveries-prev")).toBeVisible();
    firstIds.push(await firstId(page));
    seen.push(...(await shownSeeds(page)));
  }
  expect(seen).toEqual(newestFirst(seeds));
  expect(firstIds.length).toBeGreaterThanOrEqual(2);

  // 上一页 goes back one page, 下一页 forward again.
  await page.getByTestId("deliveries-prev").click();
  await expect.poll(() => firstId(page)).toBe(firstIds[firstIds.length - 2]);
  await page.getByTestId("deliveries-next").click();
  await expect.poll(() => firstId(page)).toBe(firstIds[firstIds.length - 1]);

  // 回到最新 returns to the first page, without a cursor.
  await page.getByTestId("deliveries-newest").click();
  await expect(page).toHaveURL(new RegExp(`${PATH}$`));
  await expect.poll(() => firstId(page)).toBe(firstIds[0]);
  await expect(page.getByTestId("deliveries-newest")).toHaveCount(0);
  await expect(page.getByTestId("deliveries-prev")).toHaveCount(0);

  // The cursor is in the URL: a reload of page 2 shows page 2.
  await page.getByTestId("deliveries-next").click();
  await expect.poll(() => firstId(page)).toBe(firstIds[1]);
  await page.reload();
  await waitForHydration(page);
  await expect.poll(() => firstId(page)).toBe(firstIds[1]);
  await expect(page.getByTestId("deliveries-newest")).toBeVisible();
  expect(errors).toEqual([]);
});

test("a preview expands to the full content", async ({ page }) => {
  const errors = watchConsole(page);
  await openHistory(page);
  const s = seed(COUNT);
  const r = row(page, s);
  const preview = r.getByTestId("delivery-preview");
  const full = r.getByTestId("delivery-full");
  await expect(preview).toContainText(`${marker} #${pad(COUNT)}`);
  await expect(preview).toHaveText(/…$/);
  await expect(preview).not.toContainText("-END");
  await expect(full).toBeHidden();

  await preview.click();
  await expect(full).toBeVisible();
  await expect(full).toContainText(`尾注 ${marker}-${pad(COUNT)}-END`);
  expect(await full.evaluate((el) => el.textContent)).toBe(s.content);
  await preview.click();
  await expect(full).toBeHidden();
  expect(errors).toEqual([]);
});

test("an empty page says so and leads back to the newest records", async ({ page }) => {
  const errors = watchConsole(page);
  await openHistory(page, "?before=1");
  await expect(page.getByTestId("deliveries-empty")).toHaveText("暂无投递记录");
  await expect(page.getByTestId("deliveries-table")).toHaveCount(0);
  await expect(page.getByTestId("deliveries-next")).toHaveCount(0);
  await page.getByTestId("deliveries-newest").click();
  await expect(page).toHaveURL(new RegExp(`${PATH}$`));
  await expect(row(page, seed(COUNT))).toBeVisible();
  expect(errors).toEqual([]);
});

test("a non-admin never sees the delivery history", async ({ page }) => {
  await signIn(page, userKey);
  await page.goto(PATH);
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("deliveries-table")).toHaveCount(0);
  await expect(page.getByRole("link", { name: "投递记录" })).toHaveCount(0);
});

test("fits a 1280 px screen with a preview open, in both languages", async ({ page }) => {
  await openHistory(page);
  await expect(rows(page).first()).toBeVisible();
  await expectFitsAt1280(page);
  await row(page, seed(COUNT)).getByTestId("delivery-content").locator("summary").click();
  await expectFitsAt1280(page);
  await page.getByTestId("language-switch").click();
  await expect(page.getByTestId("deliveries-title")).toHaveText("Delivery history");
  await expectFitsAt1280(page);
});
