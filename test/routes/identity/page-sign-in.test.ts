import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { providerIdentityId } from "../../../src/auth/provider-identity";
import { call } from "../../harness/call";
import { formTokenOf, ORIGIN, pollDeviceCode, requestDeviceCode, workerClient } from "../../harness/device-flow";

/**
 * The approval page's own sign-in: the authorization code flow with PKCE at the test provider https://idp.test
 * (test/issuers.mjs serves its sign-in page and token endpoint to the Worker), as a browser follows it:
 * every redirect by hand, every cookie carried as a browser would.
 */

const client = workerClient("198.51.100.30");
const fetchFn = client.fetch;

/** A browser's cookie jar for the deployment's origin: what Set-Cookie put there, sent back. */
class Browser {
  readonly cookies = new Map<string, string>();
  readonly setCookies: string[] = [];

  async get(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (url.startsWith(ORIGIN) && this.cookies.size > 0) headers.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = url.startsWith(ORIGIN)
      ? await fetchFn(url, { ...init, headers, redirect: "manual" })
      : await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line);
      const [pair] = line.split(";");
      const [name, value] = (pair ?? "").split("=") as [string, string];
      if (/Max-Age=0/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /**
   * From `loginPath` (the page's sign-in link) to the provider's sign-in page, **Sign in** as `email`, and
   * back: the callback's answer.
   */
  async returnFromProvider(
    userCode: string,
    email: string,
    loginPath = `/device/login?issuer=${encodeURIComponent("https://idp.test")}&user_code=${userCode}`,
  ) {
    const toProvider = await this.get(`${ORIGIN}${loginPath}`);
    expect(toProvider.status).toBe(302);
    const authorize = new URL(toProvider.headers.get("location") as string);
    expect(authorize.origin).toBe("https://idp.test");
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("redirect_uri")).toBe(`${ORIGIN}/device/callback`);
    const providerPage = await (await this.get(authorize.href)).text();
    expect(providerPage).toContain('<label for="email">Email</label>');
    expect(providerPage).toContain('<button type="submit">Sign in</button>');
    const form = new URLSearchParams(authorize.searchParams);
    form.set("email", email);
    const back = await this.get("https://idp.test/authorize", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    expect(back.status).toBe(302);
    return this.get(back.headers.get("location") as string);
  }

  /** From the page's sign-in link to the page again, signed in at the provider as `email`. */
  async signIn(userCode: string, email: string): Promise<Response> {
    const asked = await this.get(`${ORIGIN}/device?user_code=${userCode}`);
    expect(asked.status).toBe(401);
    const link = /href="(\/device\/login\?[^"]+)"[^>]*>Sign in with idp\.test</.exec(await asked.text())?.[1];
    expect(link).toBeDefined();
    const callback = await this.returnFromProvider(userCode, email, (link as string).replaceAll("&amp;", "&"));
    expect(callback.status, await callback.clone().text()).toBe(302);
    expect(callback.headers.get("location")).toBe(`/device?user_code=${userCode}`);
    return this.get(`${ORIGIN}${callback.headers.get("location")}`);
  }
}

describe("signing in to the approval page at a provider (code flow with PKCE)", () => {
  it("takes a person from the sign-in link to Approve, and the terminal gets tokens for them", async () => {
    const email = `page-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const issuance = await requestDeviceCode(client, { clientDescription: "cli" });
    const browser = new Browser();
    const page = await browser.signIn(issuance.user_code, email);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(email);
    const session = browser.setCookies.find((line) => line.startsWith("__Host-device-session="));
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/Secure/);
    expect(session).toMatch(/SameSite=Lax/);
    expect(session).toMatch(/Max-Age=900/);

    const approved = await browser.get(`${ORIGIN}/device`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN },
      body: new URLSearchParams({ user_code: issuance.user_code, csrf: formTokenOf(html), decision: "approve" }).toString(),
    });
    expect(approved.status).toBe(200);
    const polled = await pollDeviceCode(client, issuance.device_code);
    expect(polled.type).toBe("token");
    const token = (polled as { data: { access_token: string } }).data.access_token;
    // The same email is the same person as the provider's own tokens for it (sub local|<email>).
    const me = await call<{ identity_id: string; email: string }>("GET", "/v1/me", { token });
    expect(me.body.identity_id).toBe(await providerIdentityId("https://idp.test", `local|${email}`));
    expect(me.body.email).toBe(email);
  });

  it("refuses a return without the sign-in's cookie, or with a state that is not the one sent", async () => {
    const issuance = await requestDeviceCode(client, {});
    const noCookie = await fetchFn(`${ORIGIN}/device/callback?code=abc&state=xyz`);
    expect(noCookie.status).toBe(400);
    const browser = new Browser();
    await browser.get(`${ORIGIN}/device/login?issuer=${encodeURIComponent("https://idp.test")}&user_code=${issuance.user_code}`);
    expect(browser.cookies.has("__Host-device-login")).toBe(true);
    const forged = await browser.get(
      `${ORIGIN}/device/callback?code=abc&state=not-the-state&iss=${encodeURIComponent("https://idp.test")}`,
    );
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain("did not sign you in");
    expect(browser.cookies.has("__Host-device-session")).toBe(false);
  });

  it("ends the page's session when an operator disables the person", async () => {
    const email = `gone-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const issuance = await requestDeviceCode(client, {});
    const browser = new Browser();
    expect((await browser.signIn(issuance.user_code, email)).status).toBe(200);
    const identityId = await providerIdentityId("https://idp.test", `local|${email}`);
    expect((await call("DELETE", `/admin/identities/${identityId}`, { token: env.ADMIN_TOKEN })).status).toBe(204);
    expect((await browser.get(`${ORIGIN}/device?user_code=${issuance.user_code}`)).status).toBe(401);
    // Enabled again, the session from before stays refused; and a disabled person coming back from the provider gets a page, not a 500.
    expect((await call("POST", `/admin/identities/${identityId}/enable`, { token: env.ADMIN_TOKEN })).status).toBe(200);
    expect((await browser.get(`${ORIGIN}/device?user_code=${issuance.user_code}`)).status).toBe(401);
    expect((await call("DELETE", `/admin/identities/${identityId}`, { token: env.ADMIN_TOKEN })).status).toBe(204);
    const callback = await new Browser().returnFromProvider(issuance.user_code, email);
    expect(callback.status).toBe(400);
    expect(await callback.text()).toContain("did not sign you in");
  });

  it("sends nobody to a provider that is not configured for the page", async () => {
    const res = await fetchFn(`${ORIGIN}/device/login?issuer=${encodeURIComponent("https://readonly.test")}`);
    expect(res.status).toBe(404);
  });
});
