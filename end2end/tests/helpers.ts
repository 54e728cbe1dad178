import { execFileSync } from "node:child_process";
import { expect, type Page } from "@playwright/test";

export const adminToken = required("E2E_ADMIN_TOKEN");
export const userKey = required("E2E_USER_KEY");
export const userName = process.env.E2E_USER_NAME ?? "测试用户";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through scripts/test`);
  return value;
}

/** Collects console errors and uncaught exceptions; assert on it at the end of a test. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(String(err)));
  return errors;
}

/** Waits until the wasm bundle has hydrated the page: the app marks <body data-hydrated> from an
 * effect, and effects run only in the browser after hydration. A loaded part of the page may
 * hydrate later, when its data arrives: it stays `[data-pending]` until then. */
export async function waitForHydration(page: Page) {
  await page.locator("body[data-hydrated]").waitFor({ state: "attached" });
  await expect(page.locator("[data-pending]")).toHaveCount(0);
}

export async function signIn(page: Page, token: string) {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByTestId("login-token").fill(token);
  await page.getByTestId("login-submit").click();
  await expect(page).toHaveURL(/\/dashboard$/);
}

export const receiverUrl = required("E2E_RECEIVER_URL");

/** A webhook URL on the local receiver; `key` keeps parallel tests apart. */
export function hookUrl(answer: string, key: string): string {
  return `${receiverUrl}/${answer}?key=${encodeURIComponent(key)}`;
}

/** The signing secret of the receiver's Feishu-like bot (`/feishu`, see end2end/receiver.mjs). */
export const feishuSecret = process.env.E2E_FEISHU_SECRET ?? "SECe2eFeishuSigningSecret";

export async function receivedBy(key: string): Promise<{ path: string; body: any }[]> {
  const res = await fetch(`${receiverUrl}/received?key=${encodeURIComponent(key)}`);
  return res.json();
}

/** The test server's database (scripts/test exports it). Read when first used, so specs that do
 * not touch the database run without it. */
export function databaseUrl(): string {
  return required("E2E_DATABASE_URL");
}

/** Runs SQL in the test server's database through psql, in one transaction, stopping at the first
 * error; returns the output rows (unaligned, tuples only). */
export function psql(sql: string): string[] {
  const out = execFileSync(
    "psql",
    [databaseUrl(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"],
    { input: sql, encoding: "utf8", timeout: 30_000 },
  );
  return out.split("\n").filter((line) => line !== "");
}

/** A SQL string literal. */
export function sqlText(value: string | null): string {
  return value === null ? "NULL" : `'${value.replaceAll("'", "''")}'`;
}

/** Elements whose text must stay on one line: tags, badges, buttons, column heads, the breaker
 * settings (one per line) and times. */
const ONE_LINE = ".role-tag, .circuit-badge, .status-pill, .btn, th, .breaker-settings li, time";

/** At 1280 × 800 (a common laptop), the page's tables fit without scrolling sideways and no tag,
 * badge, button or column head wraps. Fails listing what does not, for a readable failure. A page
 * without tables (`tables: false`) must not scroll sideways as a whole. */
export async function expectFitsAt1280(page: Page, { tables = true }: { tables?: boolean } = {}) {
  await page.setViewportSize({ width: 1280, height: 800 });
  if (tables) await expect(page.locator(".table-scroll").first()).toBeVisible();
  const problems = await page.evaluate((oneLine) => {
    const found: string[] = [];
    const root = document.scrollingElement ?? document.documentElement;
    if (root.scrollWidth > root.clientWidth) {
      found.push(`the page is ${root.scrollWidth}px wide in ${root.clientWidth}px`);
    }
    document.querySelectorAll<HTMLElement>(".table-scroll").forEach((el) => {
      if (el.scrollWidth > el.clientWidth) {
        found.push(`a table is ${el.scrollWidth}px wide in ${el.clientWidth}px`);
      }
    });
    document.querySelectorAll<HTMLElement>(oneLine).forEach((el) => {
      if (el.offsetParent === null || !el.textContent?.trim()) return;
      const range = document.createRange();
      range.selectNodeContents(el);
      // A new line starts where a text box begins well below the one before.
      const lineStep = parseFloat(getComputedStyle(el).fontSize) * 0.8;
      const tops = [...range.getClientRects()]
        .filter((r) => r.width > 1 && r.height > 1) // not the 1 px screen-reader-only text
        .map((r) => r.top)
        .sort((a, b) => a - b);
      const lines = tops.filter((top, i) => i === 0 || top - tops[i - 1] > lineStep).length;
      if (lines > 1) found.push(`"${el.textContent.trim()}" wraps onto ${lines} lines`);
    });
    return found;
  }, ONE_LINE);
  expect(problems).toEqual([]);
}
