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
 * effect, and effects run only in the browser after hydration. */
export async function waitForHydration(page: Page) {
  await page.locator("body[data-hydrated]").waitFor({ state: "attached" });
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
