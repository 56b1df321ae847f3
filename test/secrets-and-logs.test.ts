import fc from "fast-check";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { generateSecret, parseSecret, SECRET_PREFIXES } from "../src/secret";
import { redactSecrets } from "../src/logger";
import { call, createWorkspace, faultyKV, mintIdentity, seedApiKey } from "./harness";

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

describe("logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("never contain a token, an API key or the admin token", async () => {
    const lines: string[] = [];
    for (const method of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => lines.push(args.map(String).join(" ")));
    }
    const identity = await mintIdentity();
    const { secret } = await seedApiKey();
    await createWorkspace(identity.token);
    await createWorkspace(identity.token, {}, { env: { KV: faultyKV(["put"]) } });
    await call("GET", "/v1/auth/me", { token: secret });
    await call("GET", `/v1/auth/me?token=${identity.token}`, { headers: { "x-request-id": identity.token } });
    await call("POST", "/v1/me/workspaces", { token: secret, body: { slug: identity.token } });
    await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: env.ADMIN_TOKEN });

    expect(lines.length).toBeGreaterThan(5);
    const all = lines.join("\n");
    for (const leaked of [identity.token, secret, env.ADMIN_TOKEN]) expect(all).not.toContain(leaked);
    expect(all).toContain(identity.identity_id);
  });
});
