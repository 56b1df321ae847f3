import { env } from "cloudflare:workers";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { providerIdentityId } from "../../../src/auth/provider-identity";
import { call } from "../../harness/call";
import {
  decide,
  formTokenOf,
  loginWithDeviceCode,
  ORIGIN,
  openPage,
  pollDeviceCode,
  refreshToken,
  requestDeviceCode,
  SdkError,
  submitDecision,
  workerClient,
  workerFetch,
} from "../../harness/device-flow";
import { providerToken } from "../../harness/issuer";
import { createWorkspace } from "../../harness/seed";
import { storedEvents } from "../../harness/storage";

/** A person signed in through the test provider, with `workspaces` workspaces of their own in this region. */
async function person(workspaces = 1) {
  const subject = crypto.randomUUID();
  const assertion = await providerToken({ subject });
  const identityId = await providerIdentityId("https://idp.test", subject);
  const ids: string[] = [];
  for (let i = 0; i < workspaces; i++) {
    const res = await createWorkspace<{ id: string }>(assertion);
    expect(res.status, res.text).toBe(201);
    ids.push(res.body.id);
  }
  // The provider's own token is described as such (and, with no workspace, creates the identity).
  const described = await call<{ token_kind: string; token_workspace_id: null }>("GET", "/v1/me", { token: assertion });
  expect(described.body).toMatchObject({ token_kind: "identity_provider", token_workspace_id: null });
  return { assertion, identityId, workspaceIds: ids };
}

const client = workerClient();
const fetchFn = client.fetch;

describe("the SDK's loginWithDeviceCode against the deployment", () => {
  it("signs a person with one workspace in, with a token for that workspace only", async () => {
    const me = await person(1);
    const result = await loginWithDeviceCode(client, {
      clientDescription: "amigo-cli on build-42",
      onCode: async (issuance) => {
        expect((await decide(issuance.user_code, me.assertion)).status).toBe(200);
      },
    });
    expect(result.workspaceId).toBe(me.workspaceIds[0]);
    const claims = decodeJwt(result.accessToken);
    expect(claims).toMatchObject({
      iss: ORIGIN,
      sub: me.identityId,
      workspace_id: me.workspaceIds[0],
      scope: "workspaces:read workspaces:write",
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(15 * 60);
    expect(typeof claims.jti).toBe("string");
    expect(result.refreshToken).toMatch(/^prt_/);

    const workspace = await call<{ id: string }>("GET", `/v1/workspaces/${result.workspaceId}`, { token: result.accessToken });
    expect(workspace.status, workspace.text).toBe(200);
    const me2 = await call<Record<string, unknown>>("GET", "/v1/me", { token: result.accessToken });
    expect(me2.body).toMatchObject({
      identity_id: me.identityId,
      token_kind: "access_token",
      token_workspace_id: result.workspaceId,
      issuer: ORIGIN,
      credential_id: claims.sid,
    });
    const listed = await call<{ items: { id: string }[] }>("GET", "/v1/workspaces", { token: result.accessToken });
    expect(listed.body.items.map((w) => w.id)).toEqual([result.workspaceId]);
  });

  it("answers 300 to a person with several workspaces, and the chosen one is what the refreshed token is for", async () => {
    const me = await person(2);
    const offered: string[][] = [];
    const result = await loginWithDeviceCode(client, {
      onCode: async (issuance) => void (await decide(issuance.user_code, me.assertion)),
      onWorkspaceRequired: async (workspaces) => {
        offered.push(workspaces.map((w) => w.workspace_id));
        expect(workspaces.every((w) => w.role === "owner" && w.name === "Test Workspace")).toBe(true);
        return me.workspaceIds[0] as string;
      },
    });
    expect(offered).toEqual([[...me.workspaceIds].reverse()]);
    expect(result.workspaceId).toBe(me.workspaceIds[0]);
    expect(decodeJwt(result.accessToken).workspace_id).toBe(me.workspaceIds[0]);
    // The other workspace is as for a non-member.
    const other = await call<{ error_code: string }>("GET", `/v1/workspaces/${me.workspaceIds[1]}`, { token: result.accessToken });
    expect(other.status).toBe(403);
    expect(other.body.error_code).toBe("forbidden");
  });

  it("gives a person with no workspace a bootstrap token, whose profile lists none: the SDK's no_workspaces", async () => {
    const me = await person(0);
    let bootstrap: string | null = null;
    const spy: typeof fetch = async (input, init) => {
      const res = await fetchFn(input, init);
      if (String(input).endsWith("/token") && res.status === 200)
        bootstrap = ((await res.clone().json()) as { access_token: string }).access_token;
      return res;
    };
    const login = loginWithDeviceCode(
      { baseUrl: ORIGIN, fetch: spy },
      { onCode: async (issuance) => void (await decide(issuance.user_code, me.assertion)) },
    );
    await expect(login).rejects.toMatchObject({ errorCode: "no_workspaces" });
    expect(bootstrap).not.toBeNull();
    const claims = decodeJwt(bootstrap as unknown as string);
    expect(claims.workspace_bootstrap).toBe(true);
    expect(claims.workspace_id).toBeUndefined();
    const profile = await call<{ workspaces: unknown[]; identity_id: string }>("GET", "/self/profile", { token: bootstrap });
    expect(profile.body).toMatchObject({ identity_id: me.identityId, workspaces: [] });
    // A bootstrap token acts in no workspace, and makes none: that takes the person's own token.
    const created = await createWorkspace<{ error_code: string }>(bootstrap as unknown as string);
    expect(created.status).toBe(403);
    expect(created.body.error_code).toBe("unsupported_principal_type");
  });

  it("tells a poller to wait, to slow down, that the person denied, and that a code expired, as RFC 8628 §3.5 says", async () => {
    const me = await person(1);
    const issuance = await requestDeviceCode(client, { clientDescription: "poller" });
    expect(issuance).toMatchObject({ expires_in: 600, interval: 5, verification_uri: `${ORIGIN}/device` });
    expect(issuance.user_code).toMatch(/^[CDFGHJKMNPQRTVWXY346]{4}-[CDFGHJKMNPQRTVWXY346]{4}$/);
    expect(issuance.verification_uri_complete).toBe(`${ORIGIN}/device?user_code=${issuance.user_code}`);
    expect(await pollDeviceCode(client, issuance.device_code)).toEqual({ type: "pending" });
    expect(await pollDeviceCode(client, issuance.device_code)).toEqual({ type: "slow_down" });

    expect((await decide(issuance.user_code, me.assertion, "deny")).status).toBe(200);
    await expect(pollDeviceCode(client, issuance.device_code)).rejects.toMatchObject({ errorCode: "access_denied" });
    const denied = await storedEvents(null, { action: "device_authorization.denied", actor_entity_id: me.identityId });
    expect(denied).toHaveLength(1);
    expect(denied[0]?.resourceName).toBe("poller");

    // Approved, then left until after it expired: expired too.
    const slow = await requestDeviceCode(client, { clientDescription: "slow poller" });
    await decide(slow.user_code, me.assertion);
    await env.DB.prepare("update device_authorizations set expires_at = ? where state = 'approved' and client_description = 'slow poller'")
      .bind(new Date(Date.now() - 1000).toISOString())
      .run();
    await expect(pollDeviceCode(client, slow.device_code)).rejects.toMatchObject({ errorCode: "expired_token" });

    const late = await requestDeviceCode(client, {});
    await env.DB.prepare(
      "update device_authorizations set expires_at = ? where created_at >= ? and state = 'pending' and client_description = ?",
    )
      .bind(new Date(Date.now() - 1000).toISOString(), new Date(Date.now() - 60_000).toISOString(), "A client that did not describe itself")
      .run();
    await expect(pollDeviceCode(client, late.device_code)).rejects.toMatchObject({ errorCode: "expired_token" });
    expect((await openPage(late.user_code, me.assertion)).status).toBe(404);
  });

  it("hands the tokens out once: the device code is spent by its first successful poll", async () => {
    const me = await person(1);
    const issuance = await requestDeviceCode(client, {});
    await decide(issuance.user_code, me.assertion);
    const first = await pollDeviceCode(client, issuance.device_code);
    expect(first.type).toBe("token");
    await expect(pollDeviceCode(client, issuance.device_code)).rejects.toMatchObject({ errorCode: "invalid_grant" });
  });

  it("accepts RFC 8628's grant type URN and an explicit workspace_id, and refuses a workspace that is not the person's", async () => {
    const me = await person(2);
    const stranger = await person(1);
    const issuance = await requestDeviceCode(client, { scope: "workspaces:read" });
    await decide(issuance.user_code, me.assertion);
    const refused = await pollDeviceCode(client, issuance.device_code, undefined, stranger.workspaceIds[0]).catch((e) => e);
    expect(refused).toMatchObject({ errorCode: "invalid_grant" });
    const res = await fetchFn(`${ORIGIN}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:device_code",
        device_code: issuance.device_code,
        workspace_id: me.workspaceIds[1] as string,
      }).toString(),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe("workspaces:read");
    expect(decodeJwt(body.access_token).workspace_id).toBe(me.workspaceIds[1]);
    // Read-only: a write is refused for the scope.
    const write = await call<{ error_code: string }>("PATCH", `/v1/workspaces/${me.workspaceIds[1]}`, {
      token: body.access_token,
      body: { name: "Renamed" },
    });
    expect(write.status).toBe(403);
    expect(write.body.error_code).toBe("insufficient_scope");
  });

  it("answers bad requests with OAuth's errors", async () => {
    const post = (path: string, fields: Record<string, string>, contentType = "application/x-www-form-urlencoded") =>
      fetchFn(`${ORIGIN}${path}`, {
        method: "POST",
        headers: { "content-type": contentType },
        body: new URLSearchParams(fields).toString(),
      });
    const scope = await post("/device/code", { scope: "admin:everything" });
    expect(scope.status).toBe(400);
    expect(await scope.json()).toMatchObject({ error: "invalid_scope" });
    const grant = await post("/token", { grant_type: "password", username: "a", password: "b" });
    expect(await grant.json()).toMatchObject({ error: "unsupported_grant_type" });
    const missing = await post("/token", { grant_type: "device_code" });
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const noGrant = await post("/token", {});
    expect(noGrant.status).toBe(400);
    expect(await noGrant.json()).toMatchObject({ error: "invalid_request" });
    const unknown = await post("/token", { grant_type: "device_code", device_code: "pdc_nothing" });
    expect(await unknown.json()).toMatchObject({ error: "invalid_grant" });
  });
});

describe("refresh tokens", () => {
  async function signedIn(workspaces = 1) {
    const me = await person(workspaces);
    const result = await loginWithDeviceCode(client, {
      clientDescription: "refresher",
      onCode: async (issuance) => void (await decide(issuance.user_code, me.assertion)),
      onWorkspaceRequired: async (choices) => (choices[0] as { workspace_id: string }).workspace_id,
    });
    return { me, result };
  }

  it("rotate on every use, and a spent one used again revokes the whole sign-in, recorded", async () => {
    const { me, result } = await signedIn();
    const next = await refreshToken(client, { refreshToken: result.refreshToken, workspaceId: result.workspaceId });
    expect(next.refresh_token).toMatch(/^prt_/);
    expect(next.refresh_token).not.toBe(result.refreshToken);
    expect(decodeJwt(next.access_token).sid).toBe(decodeJwt(result.accessToken).sid);

    const reused = await refreshToken(client, { refreshToken: result.refreshToken }).catch((e) => e);
    expect(reused).toMatchObject({ errorCode: "invalid_grant", statusCode: 400 });
    // The thief's use ended the holder's sign-in too.
    const holder = await refreshToken(client, { refreshToken: next.refresh_token as string }).catch((e) => e);
    expect(holder).toMatchObject({ errorCode: "invalid_grant" });
    const events = await storedEvents(null, { action: "sign_in.revoked_for_reuse", actor_entity_id: me.identityId });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ resourceType: "sign_in", resourceId: decodeJwt(result.accessToken).sid, resourceName: "refresher" });
  });

  it("move a sign-in to another of the person's workspaces, may narrow its scopes, and never widen them", async () => {
    const { me, result } = await signedIn(2);
    const other = me.workspaceIds.find((id) => id !== result.workspaceId) as string;
    const moved = await refreshToken(client, { refreshToken: result.refreshToken, workspaceId: other, scope: "workspaces:read" });
    expect(decodeJwt(moved.access_token)).toMatchObject({ workspace_id: other, scope: "workspaces:read" });
    const wider = await refreshToken(client, { refreshToken: moved.refresh_token as string, scope: "workspaces:read workspaces:write" });
    expect(wider.scope).toBe("workspaces:read workspaces:write");
    const unknown = await refreshToken(client, { refreshToken: wider.refresh_token as string, scope: "root" }).catch((e) => e);
    expect(unknown).toMatchObject({ errorCode: "invalid_scope" });
  });

  it("are refused once the sign-in is revoked (RFC 7009), recorded", async () => {
    const { me, result } = await signedIn();
    const res = await fetchFn(`${ORIGIN}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: result.refreshToken, token_type_hint: "refresh_token" }).toString(),
    });
    expect(res.status).toBe(200);
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toMatchObject({ errorCode: "invalid_grant" });
    expect(await storedEvents(null, { action: "sign_in.revoked", actor_entity_id: me.identityId })).toHaveLength(1);
    // Unknown tokens are fine too (RFC 7009 §2.2).
    const unknown = await fetchFn(`${ORIGIN}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "token=whatever",
    });
    expect(unknown.status).toBe(200);
  });

  it("an access token ends its own sign-in at /revoke", async () => {
    const { result } = await signedIn();
    await fetchFn(`${ORIGIN}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: result.accessToken }).toString(),
    });
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toBeInstanceOf(SdkError);
  });

  it("die with a person an operator disables: their access tokens at once, their refresh tokens for good", async () => {
    const { me, result } = await signedIn();
    const disabled = await call("DELETE", `/admin/identities/${me.identityId}`, { token: env.ADMIN_TOKEN });
    expect(disabled.status).toBe(204);
    expect((await call("GET", "/v1/me", { token: result.accessToken })).status).toBe(401);
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toMatchObject({ errorCode: "invalid_grant" });
    const row = await env.DB.prepare("select revoked_reason from refresh_tokens where family_id = ? order by issued_at")
      .bind(decodeJwt(result.accessToken).sid)
      .first<string>("revoked_reason");
    expect(row).toBe("identity_disabled");
    // Enabled again, the old sign-in stays dead.
    expect((await call("POST", `/admin/identities/${me.identityId}/enable`, { token: env.ADMIN_TOKEN })).status).toBe(200);
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toMatchObject({ errorCode: "invalid_grant" });
  });

  it("end 90 days after the approval, however often they are used", async () => {
    const { result } = await signedIn();
    const sid = decodeJwt(result.accessToken).sid as string;
    await env.DB.prepare("update refresh_tokens set family_created_at = ? where family_id = ?")
      .bind(new Date(Date.now() - 91 * 24 * 60 * 60 * 1000).toISOString(), sid)
      .run();
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toMatchObject({ errorCode: "invalid_grant" });
  });

  it("stay dead, with the access tokens and page sessions issued before, when a disabled person is enabled again", async () => {
    const { me, result } = await signedIn();
    expect((await call("DELETE", `/admin/identities/${me.identityId}`, { token: env.ADMIN_TOKEN })).status).toBe(204);
    expect((await call("POST", `/admin/identities/${me.identityId}/enable`, { token: env.ADMIN_TOKEN })).status).toBe(200);
    expect((await call("GET", `/v1/workspaces/${result.workspaceId}`, { token: result.accessToken })).status).toBe(401);
    await expect(refreshToken(client, { refreshToken: result.refreshToken })).rejects.toMatchObject({ errorCode: "invalid_grant" });
    // A new sign-in works again.
    const again = await loginWithDeviceCode(client, { onCode: async (issuance) => void (await decide(issuance.user_code, me.assertion)) });
    expect((await call("GET", `/v1/workspaces/${again.workspaceId}`, { token: again.accessToken })).status).toBe(200);
  });

  it("do not make workspaces, nor see or answer the person's invitations to others: that takes the person's own token", async () => {
    const { me, result } = await signedIn();
    const inviter = await person(1);
    const invited = await call<{ id: string }>("POST", `/v1/${inviter.workspaceIds[0]}/invitations`, {
      token: inviter.assertion,
      body: { email: `${(await call<{ email: string }>("GET", "/v1/me", { token: me.assertion })).body.email}`, role: "member" },
    });
    expect(invited.status, invited.text).toBe(201);
    for (const [method, path] of [
      ["GET", "/v1/me/invitations"],
      ["POST", `/v1/me/invitations/${invited.body.id}/accept`],
      ["POST", `/v1/me/invitations/${invited.body.id}/decline`],
    ] as const) {
      const res = await call<{ error_code: string }>(method, path, { token: result.accessToken });
      expect(res.status, path).toBe(403);
      expect(res.body.error_code).toBe("unsupported_principal_type");
    }
    expect((await createWorkspace(result.accessToken)).status).toBe(403);
  });

  it("are stored as hashes only", async () => {
    const { result } = await signedIn();
    const rows = await env.DB.prepare("select * from refresh_tokens").all();
    expect(JSON.stringify(rows.results)).not.toContain(result.refreshToken.slice(4));
  });
});

describe("the approval page", () => {
  it("asks who you are, then for the code, and shows the request with Approve and Deny under a strict policy", async () => {
    const me = await person(1);
    const nobody = await openPage(null, null);
    expect(nobody.status).toBe(401);
    const ask = await openPage(null, me.assertion);
    expect(ask.status).toBe(200);
    expect(ask.html).toContain('<label for="user_code">Code</label>');
    const issuance = await requestDeviceCode(workerClient("192.0.2.55"), { clientDescription: "<script>alert(1)</script>" });
    const shown = await openPage(issuance.user_code.toLowerCase().replace("-", " "), me.assertion);
    expect(shown.status).toBe(200);
    expect(shown.html).toContain(issuance.user_code);
    expect(shown.html).toContain("192.0.2.55");
    expect(shown.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(shown.html).not.toContain("<script>");
    expect(shown.html).toMatch(/<button type="submit" name="decision" value="approve">Approve<\/button>/);
    expect(shown.html).toMatch(/<button type="submit" name="decision" value="deny">Deny<\/button>/);
    const csp = shown.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(csp).not.toMatch(/unsafe-inline/);
    expect(shown.headers.get("x-frame-options")).toBe("DENY");
    expect(shown.headers.get("referrer-policy")).toBe("same-origin");
    const nonce = /style-src 'nonce-([0-9a-f]+)'/.exec(csp)?.[1];
    expect(shown.html).toContain(`<style nonce="${nonce}">`);
  });

  it("refuses a form from another site, another person's form, and a form after the decision", async () => {
    const me = await person(1);
    const other = await person(1);
    const issuance = await requestDeviceCode(client, {});
    const shown = await openPage(issuance.user_code, me.assertion);
    const fields = { user_code: issuance.user_code, csrf: formTokenOf(shown.html), decision: "approve" };
    expect((await submitDecision(fields, me.assertion, { origin: "https://evil.example" })).status).toBe(403);
    expect((await submitDecision(fields, me.assertion, { origin: "null" })).status).toBe(403);
    expect((await submitDecision(fields, other.assertion)).status).toBe(400);
    expect((await submitDecision({ ...fields, csrf: "forged" }, me.assertion)).status).toBe(400);
    expect((await submitDecision(fields, null)).status).toBe(401);
    expect(await pollDeviceCode(client, issuance.device_code)).toEqual({ type: "pending" });
    expect((await submitDecision(fields, me.assertion)).status).toBe(200);
    expect((await submitDecision(fields, me.assertion)).status).toBe(404);
    const approved = await storedEvents(null, { action: "device_authorization.approved", actor_entity_id: me.identityId });
    expect(approved).toHaveLength(1);
    expect(approved[0]?.metadata).toMatchObject({ scopes: ["workspaces:read", "workspaces:write"], requested_from_address: "203.0.113.7" });
  });

  it("refuses a form without its own token before looking the code up, and counts wrong codes sent by the form", async () => {
    const me = await person(0);
    const issuance = await requestDeviceCode(client, {});
    const real = formTokenOf((await openPage(issuance.user_code, me.assertion)).html);
    // No form token of the person's: 400 whether the code is live or not (the form is no oracle).
    for (const code of [issuance.user_code, "CCCC-CCCC"]) {
      expect((await submitDecision({ user_code: code, csrf: "x", decision: "approve" }, me.assertion)).status).toBe(400);
    }
    // A real form token with another code: as a wrong code on the page, counted (TIGHT_RATE_LIMIT: 3 per 10 s).
    const tight = { AUTH_FAILURE_RATE_LIMIT: env.TIGHT_RATE_LIMIT };
    const address = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await workerFetch(address, tight)(`${ORIGIN}/device`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: ORIGIN, "cf-access-jwt-assertion": me.assertion },
        body: new URLSearchParams({ user_code: "CCCC-CCCC", csrf: real, decision: "approve" }).toString(),
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
    expect(await pollDeviceCode(client, issuance.device_code)).toEqual({ type: "pending" });
  });

  it("answers a malformed link with its own 400 page, strips bidi overrides, and needs PUBLIC_URL when deployed", async () => {
    const me = await person(0);
    const long = await openPage("C".repeat(40), me.assertion);
    expect(long.status).toBe(400);
    expect(long.headers.get("content-type")).toMatch(/^text\/html/);
    const agent = { "user-agent": "curl/8 \u202Egnp.exe\u3164X" };
    const issuance = await requestDeviceCode(
      { baseUrl: ORIGIN, fetch: (input, init) => client.fetch(input, { ...init, headers: { ...(init?.headers as object), ...agent } }) },
      { clientDescription: "evil\u202Egpj.exe\u200B tool\uE000" },
    );
    const shown = await openPage(issuance.user_code, me.assertion);
    expect(shown.html).toContain("evil gpj.exe tool");
    expect(shown.html).toContain("curl/8 gnp.exe X");
    for (const hidden of ["\u202E", "\u200B", "\u3164", "\uE000"]) expect(shown.html).not.toContain(hidden);
    const deployed = await workerFetch()("https://api.example.com/device/code", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "client_description=x",
    });
    expect(deployed.status).toBe(503);
  });

  it("limits wrong codes per address: past the limit, 429 with Retry-After", async () => {
    const me = await person(0);
    const tight = { AUTH_FAILURE_RATE_LIMIT: env.TIGHT_RATE_LIMIT };
    const address = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await workerFetch(address, tight)(`${ORIGIN}/device?user_code=CCCC-CCCC`, {
        headers: { "cf-access-jwt-assertion": me.assertion },
      });
      statuses.push(res.status);
      if (res.status === 429) expect(res.headers.get("retry-after")).toBe("10");
    }
    expect(statuses.slice(0, 3)).toEqual([404, 404, 404]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    // Over the person's limit, a live code from a fresh address is not looked up either: no review page to tell it by.
    const live = await requestDeviceCode(client, {});
    const fresh = await workerFetch("192.0.2.201", tight)(`${ORIGIN}/device?user_code=${live.user_code}`, {
      headers: { "cf-access-jwt-assertion": me.assertion },
    });
    expect(fresh.status).toBe(429);
    expect(await fresh.text()).not.toContain(live.user_code);
  });
});
