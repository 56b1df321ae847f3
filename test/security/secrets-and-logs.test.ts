import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { redactSecrets } from "../../src/core/logger";
import type { ApiKeyPrincipal } from "../../src/core/principal";
import { SECRET_PREFIXES } from "../../src/core/token-format";
import { generateSecret, parseSecret, sha256Hex } from "../../src/security/secret";
import { kvKeys } from "../../src/storage/kv";
import { call } from "../harness/call";
import { providerToken } from "../harness/issuer";
import { apiKeyWithRole, createWorkspace, mintIdentity, ownedWorkspace, seedApiKey } from "../harness/seed";
import { faultyD1, faultyKV } from "../harness/storage";

describe("secret format", () => {
  it("has the prefix, 36 base62 characters and a valid checksum", () => {
    for (const prefix of Object.values(SECRET_PREFIXES)) {
      const secret = generateSecret(prefix);
      expect(secret).toMatch(new RegExp(`^${prefix}_[0-9A-Za-z]{36}$`));
      expect(parseSecret(secret)).toBe(prefix);
    }
  });

  it("never repeats", () => {
    const secrets = new Set(Array.from({ length: 2000 }, () => generateSecret("pat")));
    expect(secrets.size).toBe(2000);
  });

  it("detects any single-character change in the body or checksum", () => {
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 39 }), fc.integer({ min: 1, max: 61 }), (index, shift) => {
        const secret = generateSecret("wsk");
        const replaced = alphabet[(alphabet.indexOf(secret[index]!) + shift) % 62]!;
        const mutated = secret.slice(0, index) + replaced + secret.slice(index + 1);
        return parseSecret(mutated) === null;
      }),
      { numRuns: 500 },
    );
  });

  it("masks anything secret-shaped in a log line", () => {
    const secret = generateSecret("pat");
    expect(redactSecrets(`{"x":"Bearer ${secret}"}`)).toBe('{"x":"Bearer [redacted]"}');
  });
});

/** Every line the app writes while `run` runs, parsed (the app writes JSON lines only). */
async function linesWritten(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(" ")));
  }
  try {
    await run();
  } finally {
    vi.restoreAllMocks();
  }
  return lines.map((line) => JSON.parse(line));
}

const verbose = { env: { LOG_LEVEL: "debug" } };

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("never contain a token, an API key or the admin token, even at the most verbose level", async () => {
    const identity = await mintIdentity();
    const { secret } = await seedApiKey();
    const [providers, expiredProviders] = [await providerToken(), await providerToken({ claims: { exp: 1 } })];
    const lines = await linesWritten(async () => {
      await createWorkspace(identity.token, {}, verbose);
      await createWorkspace(providers, {}, verbose);
      await call("GET", "/v1/me", { token: expiredProviders, ...verbose });
      await call("GET", "/v1/me", { token: await providerToken({ issuer: "https://down.test" }), ...verbose });
      await createWorkspace(identity.token, {}, { env: { KV: faultyKV(["put"]), LOG_LEVEL: "debug" } });
      await call("GET", "/v1/auth/me", { token: secret, ...verbose });
      await call("GET", `/v1/auth/me?token=${identity.token}`, { headers: { "x-request-id": identity.token }, ...verbose });
      await call("POST", "/v1/me/workspaces", { token: secret, body: { slug: identity.token }, ...verbose });
      await call("POST", "/admin/identities", { token: identity.token, body: { email: "x@example.com" }, ...verbose });
      await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: env.ADMIN_TOKEN, ...verbose });
    });

    expect(lines.length).toBeGreaterThan(5);
    const all = JSON.stringify(lines);
    for (const leaked of [identity.token, secret, env.ADMIN_TOKEN, providers, expiredProviders]) expect(all).not.toContain(leaked);
    // Not even a token's signature alone.
    for (const token of [providers, expiredProviders]) expect(all).not.toContain(token.split(".")[2]);
    expect(all).toContain(identity.identity_id);
  });

  it("hold no line for an ordinary request at the default level (the platform's invocation logs do)", async () => {
    const identity = await mintIdentity();
    const lines = await linesWritten(async () => {
      const created = await createWorkspace(identity.token);
      expect(created.status).toBe(201);
      expect((await createWorkspace(identity.token, { slug: created.body.slug })).status).toBe(409);
      expect((await call("GET", "/v1/workspaces", { token: identity.token })).status).toBe(200);
      expect((await call("GET", "/v1/auth/me", { token: "not-a-token" })).status).toBe(401);
    });
    expect(lines).toEqual([]);
  });

  it("hold one line per request at debug: method, path (no query), status and duration", async () => {
    const identity = await mintIdentity();
    const lines = await linesWritten(() =>
      call("GET", "/v1/workspaces?limit=5", { token: identity.token, headers: { "x-request-id": "trace-1" }, ...verbose }),
    );
    expect(lines).toEqual([
      {
        level: "debug",
        message: "request",
        request_id: "trace-1",
        method: "GET",
        path: "/v1/workspaces",
        status: 200,
        duration_ms: expect.any(Number),
      },
    ]);
  });

  it("record each refused credential as a security event, with its reason and ids", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret: current } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const record = await env.KV.get<ApiKeyPrincipal>(kvKeys.principal("wsk", await sha256Hex(current)), "json");
    // a record that outlived a rotation: same key, another secret than the one D1 holds
    const { secret: superseded } = await seedApiKey({ ...record! });
    const { secret: expired, principal: expiredKey } = await seedApiKey({ expires_at: new Date(Date.now() - 1000).toISOString() });
    const { secret: revoked, principal: revokedKey } = await seedApiKey();
    await env.KV.put(kvKeys.revokedKey(revokedKey.id), "{}");
    const unknown = generateSecret("pat");

    const lines = await linesWritten(async () => {
      for (const token of [expired, revoked, unknown]) expect((await call("GET", "/v1/auth/me", { token })).status).toBe(401);
      expect((await call("GET", `/v1/workspaces/${workspaceId}`, { token: superseded })).status).toBe(401);
    });
    const event = { level: "warn", message: "refused a credential", request_id: expect.any(String) };
    expect(lines).toEqual([
      { ...event, reason: "expired", principal_type: "api_key", key_id: expiredKey.key_id, workspace_id: expiredKey.workspace_id },
      { ...event, reason: "revoked", principal_type: "api_key", key_id: revokedKey.key_id, workspace_id: revokedKey.workspace_id },
      { ...event, reason: "unknown", principal_type: "identity" },
      { ...event, reason: "superseded", principal_type: "api_key", key_id: record!.key_id, workspace_id: workspaceId },
    ]);
  });

  it("record a failed admin authentication, and every 5xx with its cause", async () => {
    const lines = await linesWritten(async () => {
      expect((await call("DELETE", "/admin/identities/x")).status).toBe(401);
      expect((await call("DELETE", "/admin/identities/x", { token: "wrong-admin-token" })).status).toBe(401);
      const identity = await mintIdentity();
      expect((await call("GET", "/v1/workspaces", { token: identity.token, env: { DB: faultyD1() } })).status).toBe(503);
    });
    expect(lines).toEqual([
      expect.objectContaining({
        level: "warn",
        message: "refused an admin request",
        reason: "no_bearer_token",
        method: "DELETE",
        path: "/admin/identities/x",
      }),
      expect.objectContaining({ level: "warn", message: "refused an admin request", reason: "wrong_token" }),
      expect.objectContaining({
        level: "error",
        message: "request failed",
        method: "GET",
        path: "/v1/workspaces",
        status: 503,
        error_code: "service_unavailable",
        cause: expect.stringContaining("Network connection lost"),
      }),
    ]);
  });

  it("follow LOG_LEVEL: error drops warnings, and an unknown level is the default (warn), never silence", async () => {
    const { secret } = await seedApiKey({ expires_at: new Date(Date.now() - 1000).toISOString() });
    const at = async (level: string) => linesWritten(() => call("GET", "/v1/auth/me", { token: secret, env: { LOG_LEVEL: level } }));
    expect(await at("error")).toEqual([]);
    expect((await at("verbose")).map((line) => line.reason)).toEqual(["expired"]);
  });
});
