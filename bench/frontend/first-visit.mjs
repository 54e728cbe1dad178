// A first visit to one page in Chromium, with an empty cache, signed in by a bearer token (so no
// other page warms the cache first). Waits until the page has hydrated and the network is idle,
// then prints on stdout one JSON object: every response with the bytes that crossed the wire for
// its body (after Content-Encoding) and its headers.
//
//   node first-visit.mjs <base URL> <path> <admin token>
//
// Playwright comes from end2end/ (installed by `scripts/setup --e2e`); Chromium is Debian's.
import { createRequire } from "node:module";

const require = createRequire(new URL("../../end2end/package.json", import.meta.url));
const { chromium } = require("@playwright/test");

const [base, path, token] = process.argv.slice(2);
if (!base || !path || !token) {
  console.error("usage: node first-visit.mjs <base URL> <path> <admin token>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
  const page = await context.newPage();
  const pending = [];
  page.on("requestfinished", (request) => {
    pending.push(
      (async () => {
        const response = await request.response();
        const sizes = await request.sizes();
        const headers = response ? await response.allHeaders() : {};
        return {
          url: request.url(),
          type: request.resourceType(),
          status: response ? response.status() : 0,
          encoding: headers["content-encoding"] ?? "identity",
          cacheControl: headers["cache-control"] ?? null,
          bodyBytes: sizes.responseBodySize,
          headerBytes: sizes.responseHeadersSize,
        };
      })(),
    );
  });
  const started = Date.now();
  const response = await page.goto(new URL(path, base).toString(), { waitUntil: "networkidle" });
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${path} answered ${response ? response.status() : "nothing"}`);
  }
  await page.waitForSelector("body[data-hydrated]", { timeout: 30_000 });
  await page.waitForLoadState("networkidle");
  const hydratedMs = Date.now() - started;
  const resources = await Promise.all(pending);
  console.log(JSON.stringify({ path, hydratedMs, resources }));
} finally {
  await browser.close();
}
