/**
 * Signing a terminal in, end to end, in a real browser: `wrangler dev` serves the project with the local
 * identity provider of `npm run dev` (scripts/dev-issuer.mjs) trusted for the approval page's sign-in; the
 * SDK's loginWithDeviceCode (reproduced, test/harness/sdk-login.ts) asks for a code and polls; Debian's
 * Chromium (driven by playwright-core) opens the verification link, signs in at the provider with the
 * **Email** field and **Sign in**, and presses **Approve**; the poller gets tokens, and an API call with
 * them works. `npm run test:browser`; needs Chromium (CHROMIUM_PATH, default /usr/bin/chromium).
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevIssuer } from "../../scripts/dev-issuer.mjs";
import { identitySigningKeys } from "../../scripts/identity-keys.mjs";
import { type IdentityClient, loginWithDeviceCode } from "../harness/sdk-login";
import { type DevServer, startDevServer } from "../node/dev-server";
import { launchChromium } from "./chromium";

let dev: DevServer | undefined;
let issuer: Awaited<ReturnType<typeof startDevIssuer>> | undefined;
let browser: Browser;

beforeAll(async () => {
  issuer = await startDevIssuer(0);
  dev = await startDevServer("browser-test-admin-token-0123456789abcdef", {
    OIDC_PROVIDERS: issuer.providers,
    IDENTITY_SIGNING_KEYS: await identitySigningKeys(),
  });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await dev?.stop();
  await issuer?.close();
});

describe("a terminal signed in through the approval page, in Chromium", () => {
  it("goes from the code to the local provider's sign-in to Approve, and the poller's tokens work on the API", async () => {
    const origin = (dev as DevServer).origin;
    const email = `browser-${Date.now()}@example.com`;
    // The person has one workspace, made with the local provider's token for the same email (the same person).
    const providerToken = (await (await fetch(`${issuer?.origin}/token?email=${email}`)).text()).trim();
    const created = await fetch(`${origin}/v1/me/workspaces`, {
      method: "POST",
      headers: { authorization: `Bearer ${providerToken}`, "content-type": "application/json" },
      body: JSON.stringify({ slug: `browser-${Date.now()}`, name: "Browser", environment: "development" }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const workspaceId = ((await created.json()) as { id: string }).id;

    const page = await browser.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    const client: IdentityClient = { baseUrl: origin, fetch };
    const statuses: string[] = [];
    const result = await loginWithDeviceCode(client, {
      clientDescription: "browser test terminal",
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      statuses,
      onCode: async (issuance) => {
        await page.goto(issuance.verification_uri_complete);
        await page.getByRole("link", { name: "Sign in with the local provider" }).click();
        await page.getByLabel("Email").fill(email);
        await page.getByRole("button", { name: "Sign in" }).click();
        // Back on the approval page, signed in: the code the terminal shows, the program, the buttons.
        await page.getByRole("button", { name: "Approve" }).waitFor({ timeout: 30_000 });
        // biome-ignore lint/performance/useDomNodeTextContent: what the person sees
        const text = await page.locator("main").innerText();
        expect(text).toContain(issuance.user_code);
        expect(text).toContain("browser test terminal");
        expect(text).toContain(email);
        await expect(page.getByRole("button", { name: "Deny" }).isVisible()).resolves.toBe(true);
        await page.getByRole("button", { name: "Approve" }).click();
        await page.getByRole("status").waitFor();
        // biome-ignore lint/performance/useDomNodeTextContent: what the person sees
        expect(await page.getByRole("status").innerText()).toMatch(/^Approved/);
      },
    });
    expect(result.workspaceId).toBe(workspaceId);
    const me = await fetch(`${origin}/v1/workspaces/${workspaceId}`, { headers: { authorization: `Bearer ${result.accessToken}` } });
    expect(me.status).toBe(200);
    const cookies = await page.context().cookies(origin);
    const session = cookies.find((cookie) => cookie.name === "__Host-device-session");
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax", path: "/" });
    expect(violations).toEqual([]);
  });
});
