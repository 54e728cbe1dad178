import { expect, test } from "@playwright/test";
import { adminToken, signIn, userKey, userName, waitForHydration, watchConsole } from "./helpers";

test("admin signs in and reaches 消息推送 through the sidebar", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await expect(page.getByTestId("whoami-role")).toHaveText("管理员");
  await expect(page.getByTestId("user-list")).toContainText(userName);
  await page.getByRole("link", { name: "设置" }).click();
  await expect(page).toHaveURL(/\/settings\/notifications$/);
  await expect(page.getByTestId("notifications-title")).toHaveText("消息推送");
  await expect(page.getByRole("navigation", { name: "settings" }).getByRole("link", { name: "消息推送" })).toBeVisible();
  await expect(page.getByTestId("card-circuitBreaker")).toContainText("熔断器告警");
  await expect(page.getByTestId("save-settings")).toHaveText("保存设置");
  expect(errors).toEqual([]);
});

test("a user signs in and is sent to the dashboard from /settings/notifications", async ({ page }) => {
  await signIn(page, userKey);
  await expect(page.getByTestId("whoami-name")).toHaveText(userName);
  await expect(page.getByTestId("whoami-role")).toHaveText("普通用户");
  await expect(page.getByRole("link", { name: "设置" })).toHaveCount(0);
  await page.goto("/settings/notifications");
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByTestId("notifications-title")).toHaveCount(0);
});

test("signed out, /settings/notifications leads to /login and back after signing in", async ({ page }) => {
  await page.goto("/settings/notifications");
  await expect(page).toHaveURL(/\/login\?next=%2Fsettings%2Fnotifications$/);
  await waitForHydration(page);
  await page.getByTestId("login-token").fill(adminToken);
  await page.getByTestId("login-submit").click();
  await expect(page).toHaveURL(/\/settings\/notifications$/);
});

test("a wrong token shows an error and signs nobody in", async ({ page }) => {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByTestId("login-token").fill("definitely-not-the-token");
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("login-error")).toHaveText("令牌或 API Key 无效");
  await expect(page).toHaveURL(/\/login/);
});

test("the page hydrates: controls work and the console stays clean", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await page.reload();
  await waitForHydration(page);
  const toggle = page.getByTestId("sidebar-toggle");
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(toggle).toHaveText("展开侧边栏");
  expect(errors).toEqual([]);
});

test("the language switch changes the UI text and is remembered", async ({ page }) => {
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await expect(page.getByTestId("notifications-title")).toHaveText("消息推送");
  await page.getByTestId("language-switch").click();
  await expect(page.getByTestId("notifications-title")).toHaveText("Notifications");
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  // The server renders the remembered language itself (hydration does not translate the page).
  const served = await (await page.request.get("/settings/notifications/deliveries")).text();
  expect(served).toMatch(/<html[^>]*\slang="en"/);
  expect(served).toContain("Delivery history");
  const cookie = (await page.context().cookies()).find((c) => c.name === "i18n_pref_locale");
  expect(cookie?.value).toBe("en");
  expect(cookie?.path).toBe("/");
  await page.reload();
  await expect(page.getByTestId("notifications-title")).toHaveText("Notifications");
  // The switch works only once hydrated; a click before that is lost.
  await waitForHydration(page);
  await page.getByTestId("language-switch").click();
  await expect(page.getByTestId("notifications-title")).toHaveText("消息推送");
});

test("signing out returns to /login and protects the pages again", async ({ page }) => {
  await signIn(page, adminToken);
  await waitForHydration(page);
  await page.getByTestId("sign-out").click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/login\?next=%2Fdashboard$/);
});

test("the release front end: hashed files, served brotli-compressed and cached for a year", async ({ page }) => {
  const assets: { url: string; encoding?: string; cacheControl?: string }[] = [];
  page.on("response", async (response) => {
    if (new URL(response.url()).pathname.startsWith("/pkg/")) {
      const headers = await response.allHeaders();
      assets.push({ url: response.url(), encoding: headers["content-encoding"], cacheControl: headers["cache-control"] });
    }
  });
  await page.goto("/login");
  await waitForHydration(page);
  // Styled: the hashed stylesheet was found and applied.
  await expect(page.locator("body")).not.toHaveCSS("font-family", /^Times/);
  const wasm = assets.filter((a) => a.url.endsWith(".wasm"));
  const js = assets.filter((a) => a.url.endsWith(".js"));
  const css = assets.filter((a) => a.url.endsWith(".css"));
  expect(wasm.length).toBeGreaterThan(0);
  expect(js.length).toBeGreaterThan(0);
  expect(css.length).toBeGreaterThan(0);
  for (const asset of [...wasm, ...js, ...css]) {
    // hub-notify.<hash>.wasm: a name that changes with the content.
    expect(new URL(asset.url).pathname, asset.url).toMatch(/\/pkg\/[^/]+\.[A-Za-z0-9_-]{8,}\.(wasm|js|css)$/);
    expect(asset.encoding, asset.url).toBe("br");
    expect(asset.cacheControl, asset.url).toBe("public, max-age=31536000, immutable");
  }
});
