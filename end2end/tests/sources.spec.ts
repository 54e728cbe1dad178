// 数据来源: every source with its state and the snippet that connects it, naming this server as
// the browser reached it; reached through the settings navigation, in both languages.
import { expect, test } from "@playwright/test";
import { adminToken, expectFitsAt1280, signIn, waitForHydration, watchConsole } from "./helpers";

test("数据来源 lists the three sources with their snippets and fits a 1280 px screen in both languages", async ({ page }) => {
  const errors = watchConsole(page);
  await signIn(page, adminToken);
  await page.goto("/settings/notifications");
  await waitForHydration(page);
  await page.locator('.settings-nav a[href="/settings/sources"]').click();
  await expect(page).toHaveURL(/\/settings\/sources$/);
  await expect(page.getByTestId("sources-title")).toHaveText("数据来源");
  const cards = page.getByTestId("source");
  await expect(cards).toHaveCount(3);
  expect(await cards.evaluateAll((all) => all.map((c) => c.getAttribute("data-source")))).toEqual([
    "http",
    "litellm",
    "cch",
  ]);
  const origin = new URL(page.url()).origin;
  const litellm = page.locator('[data-testid="source"][data-source="litellm"]');
  await expect(litellm.getByTestId("source-snippet")).toContainText(`endpoint: ${origin}/api/v1/ingest/litellm`);
  await expect(litellm.getByTestId("source-last-hour")).toContainText("入库");
  await expectFitsAt1280(page, { tables: false });

  await page.getByTestId("language-switch").click();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.getByTestId("sources-title")).toHaveText("Data sources");
  await expect(litellm.getByTestId("source-last-hour")).toContainText("stored");
  await expectFitsAt1280(page, { tables: false });
  expect(errors).toEqual([]);
});
