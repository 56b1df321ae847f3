/**
 * The API reference in a real browser: `wrangler dev` serves the project, Debian's Chromium (driven by
 * playwright-core, no browser download) opens /docs, and every request that would leave the deployment is
 * recorded and refused. The page must render every tag and the key operations from the served document,
 * with no request outside and no Content-Security-Policy violation. `npm run test:browser`; needs Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium). The screenshot goes to test-artifacts/ (gitignored).
 */
import { mkdirSync } from "node:fs";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../node/dev-server";
import { launchChromium } from "./chromium";

const SCREENSHOTS = new URL("../../test-artifacts/", import.meta.url);

let dev: DevServer | undefined;
let origin: string;
let browser: Browser;

beforeAll(async () => {
  dev = await startDevServer("browser-test-admin-token-0123456789abcdef");
  origin = dev.origin;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dev?.stop();
});

describe("the API reference in Chromium", () => {
  it.each(["/docs", "/v1/docs"])(
    "%s renders every tag and the key operations, loading nothing from outside the deployment",
    async (path) => {
      const doc = (await (await fetch(`${origin}/doc`)).json()) as {
        tags: { name: string }[];
        paths: Record<string, Record<string, { operationId: string; summary: string }>>;
      };
      const tags = doc.tags.map((t) => t.name);
      const summaries = Object.fromEntries(
        Object.values(doc.paths)
          .flatMap((methods) => Object.values(methods))
          .map((op) => [op.operationId, op.summary]),
      );
      const wanted = ["create-my-workspace", "list-api-keys", "archive-workspace"].map((id) => summaries[id]!);

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const outside: string[] = [];
      const violations: string[] = [];
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        outside.push(url);
        return route.abort();
      });
      page.on("console", (message) => {
        if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
      });

      const response = await page.goto(`${origin}${path}`);
      expect(response?.status()).toBe(200);
      await page.getByText(wanted[0]!, { exact: true }).first().waitFor({ timeout: 30_000 });
      // biome-ignore lint/performance/useDomNodeTextContent: what the reader sees, not the text of hidden elements
      const text = await page.locator("body").innerText();
      for (const tag of tags) expect(text, `tag ${tag}`).toContain(tag);
      for (const summary of wanted) expect(text, `operation "${summary}"`).toContain(summary);
      expect(outside).toEqual([]);
      expect(violations).toEqual([]);

      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: new URL(`docs${path.replaceAll("/", "-")}.png`, SCREENSHOTS).pathname, fullPage: false });
      await page.close();
    },
  );
});
