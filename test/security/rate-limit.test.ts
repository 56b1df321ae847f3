/**
 * The abuse limits (docs/guides/retries-and-limits.md). Each test puts TIGHT_RATE_LIMIT (3 per 10 s, a real
 * Workers Rate Limiting binding, vitest.config.ts) in place of the limit it tests; the suite's own limits
 * are out of reach.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SECRET_PREFIXES } from "../../src/core/token-format";
import { RATE_LIMIT_PERIOD_SECONDS } from "../../src/security/rate-limit";
import { generateSecret } from "../../src/security/secret";
import type { OpenApiDoc, Workspace } from "../harness/bodies";
import { type ApiResponse, call, errorOf, sleep } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { createApiKey, ownedWorkspace } from "../harness/seed";
import { keysNamed } from "../harness/storage";

const tight = (name: "CREDENTIAL_RATE_LIMIT" | "AUTH_FAILURE_RATE_LIMIT" | "WORKSPACE_WRITE_RATE_LIMIT") => ({
  [name]: env.TIGHT_RATE_LIMIT,
});

const PERIOD_MS = RATE_LIMIT_PERIOD_SECONDS * 1000;

/** Sleeps into the limiter's next window (local windows are aligned to the clock). */
const nextWindow = () => sleep(PERIOD_MS - (Date.now() % PERIOD_MS) + 50);

/** Makes sure what follows fits in one window: waits for the next one only if this one ends within 4 s. */
async function roomInWindow() {
  if (PERIOD_MS - (Date.now() % PERIOD_MS) < 4000) await nextWindow();
}

function expectRateLimited(res: ApiResponse) {
  expect(res.status, res.text).toBe(429);
  expect(errorOf(res)?.error_code).toBe("rate_limited");
  expect(res.headers.get("Retry-After")).toBe(String(RATE_LIMIT_PERIOD_SECONDS));
}

// The tests use distinct credentials, addresses and workspaces, so they wait out their windows side by side.
describe.concurrent("limits", () => {
  describe("per credential, on every /v1 route", () => {
    it("answers 429 with Retry-After past the limit, writes nothing, spares other credentials, recovers in the next window", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const other = await ownedWorkspace();
      await roomInWindow();
      const limits = tight("CREDENTIAL_RATE_LIMIT");
      for (let i = 0; i < 3; i++)
        expect((await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, env: limits })).status).toBe(200);
      const limited = await createApiKey(owner.token, workspaceId, { name: "over-the-limit" }, { env: limits });
      expectRateLimited(limited);
      await expectConformant("POST", "/v1/{workspace_id}/api-keys", limited);
      expect(await keysNamed(workspaceId, "over-the-limit")).toBe(0);
      expect((await call("GET", `/v1/workspaces/${other.workspaceId}`, { token: other.owner.token, env: limits })).status).toBe(200);

      await nextWindow();
      expect((await createApiKey(owner.token, workspaceId, { name: "over-the-limit" }, { env: limits })).status).toBe(201);
    }, 30_000);

    it("a 429 does not keep the Idempotency-Key: the retry in the next window runs", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      await roomInWindow();
      const limits = tight("CREDENTIAL_RATE_LIMIT");
      for (let i = 0; i < 3; i++) await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, env: limits });
      const headers = { "Idempotency-Key": crypto.randomUUID() };
      expectRateLimited(await createApiKey(owner.token, workspaceId, { name: "retried" }, { env: limits, headers }));
      await nextWindow();
      const retry = await createApiKey(owner.token, workspaceId, { name: "retried" }, { env: limits, headers });
      expect(retry.status, retry.text).toBe(201);
      expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    }, 30_000);
  });

  describe("per client address, on failed authentication", () => {
    it("refuses an address's failures past its limit until the window ends, and never a valid credential from it", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const key = await createApiKey(owner.token, workspaceId, { role: "viewer", name: "behind-the-nat" });
      const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
      const from = (ip: string, token: string) =>
        call("GET", `/v1/workspaces/${workspaceId}`, { token, headers: { "CF-Connecting-IP": ip }, env: tight("AUTH_FAILURE_RATE_LIMIT") });
      await roomInWindow();
      const guess = () => generateSecret(SECRET_PREFIXES.api_key); // well-formed, unknown
      for (let i = 0; i < 3; i++) expect((await from(address, guess())).status).toBe(401);
      const fourth = await from(address, guess());
      const blockedAt = Date.now();
      expectRateLimited(fourth);
      await expectConformant("GET", "/v1/workspaces/{workspace_id}", fourth);
      // Blocked for failures: every further guess, a revoked or an unknown token, is 429...
      expectRateLimited(await from(address, guess()));
      expectRateLimited(await from(address, generateSecret(SECRET_PREFIXES.identity)));
      // ...but the valid credentials behind the same address go on, person and key alike.
      expect((await from(address, owner.token)).status).toBe(200);
      expect((await from(address, key.body.api_key)).status).toBe(200);
      expect((await from("203.0.113.9", owner.token)).status).toBe(200);

      // The block lasts one period from the refusal, as its Retry-After says.
      await sleep(blockedAt + PERIOD_MS + 100 - Date.now());
      expect((await from(address, guess())).status).toBe(401);
    }, 30_000);

    it("malformed tokens do not count (they cost no I/O to refuse): always 401, never 429", async () => {
      const { workspaceId } = await ownedWorkspace();
      const statuses = [];
      for (const token of ["not-a-token", "wsk_short", `wsk_${"A".repeat(36)}`, "pat_", "x", "y"]) {
        statuses.push(
          (
            await call("GET", `/v1/workspaces/${workspaceId}`, {
              token,
              headers: { "CF-Connecting-IP": "192.0.2.88" },
              env: tight("AUTH_FAILURE_RATE_LIMIT"),
            })
          ).status,
        );
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    });

    it("successful requests do not count: an address with only valid tokens is never limited", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const statuses = [];
      for (let i = 0; i < 6; i++) {
        const res = await call("GET", `/v1/workspaces/${workspaceId}`, {
          token: owner.token,
          headers: { "CF-Connecting-IP": "192.0.2.77" },
          env: tight("AUTH_FAILURE_RATE_LIMIT"),
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    });
  });

  describe("per client address, on the admin surface's failed tokens", () => {
    it("counts wrong admin tokens as the API counts failures: 429 with Retry-After past the limit; the right token served", async () => {
      const address = `198.18.0.${Math.floor(Math.random() * 250) + 1}`;
      const admin = (token: string, ip = address) =>
        call("GET", "/admin/identities?limit=1", { token, headers: { "CF-Connecting-IP": ip }, env: tight("AUTH_FAILURE_RATE_LIMIT") });
      await roomInWindow();
      for (let i = 0; i < 3; i++) expect((await admin(`wrong-admin-token-${i}`)).status).toBe(401);
      const fourth = await admin("wrong-admin-token-3");
      expectRateLimited(fourth);
      await expectConformant("GET", "/admin/identities", fourth);
      expectRateLimited(await admin(env.ADMIN_TOKEN.replace(/.$/, "x")));
      // As on the API, a credential that verifies is never refused for its address's failures; no token guesses nothing: 401.
      expect((await admin(env.ADMIN_TOKEN)).status).toBe(200);
      const noToken = await call("GET", "/admin/identities", {
        headers: { "CF-Connecting-IP": address },
        env: tight("AUTH_FAILURE_RATE_LIMIT"),
      });
      expect(noToken.status).toBe(401);
      expect((await admin("wrong-admin-token-4", "203.0.113.10")).status).toBe(401);
    }, 30_000);

    it("shares the address's count with the API: failures on either surface add up", async () => {
      const address = `198.18.1.${Math.floor(Math.random() * 250) + 1}`;
      const options = { headers: { "CF-Connecting-IP": address }, env: tight("AUTH_FAILURE_RATE_LIMIT") };
      await roomInWindow();
      for (let i = 0; i < 3; i++)
        expect((await call("GET", "/v1/me", { token: generateSecret(SECRET_PREFIXES.identity), ...options })).status).toBe(401);
      expectRateLimited(await call("GET", "/admin/identities", { token: "wrong-admin-token", ...options }));
    }, 30_000);
  });

  describe("per workspace, on writes", () => {
    it("limits writes to one workspace whoever sends them; reads and other workspaces go on", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const other = await ownedWorkspace();
      const limits = tight("WORKSPACE_WRITE_RATE_LIMIT");
      await roomInWindow();
      for (let i = 0; i < 3; i++) {
        const res = await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: owner.token, body: { name: `Name ${i}` }, env: limits });
        expect(res.status, res.text).toBe(200);
      }
      const limited = await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: owner.token, body: { name: "Too many" }, env: limits });
      expectRateLimited(limited);
      await expectConformant("PATCH", "/v1/workspaces/{workspace_id}", limited);
      const read = await call<Workspace>("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, env: limits });
      expect(read.body.name).toBe("Name 2");
      expect(
        (await call("PATCH", `/v1/workspaces/${other.workspaceId}`, { token: other.owner.token, body: { name: "Fine" }, env: limits }))
          .status,
      ).toBe(200);
    }, 30_000);
  });

  describe("the access review", () => {
    it("counts against the workspace's write limit: 429 when called repeatedly", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const limits = tight("WORKSPACE_WRITE_RATE_LIMIT");
      const review = () => call("GET", `/v1/${workspaceId}/compliance/access-review`, { token: owner.token, env: limits });
      await roomInWindow();
      for (let i = 0; i < 3; i++) expect((await review()).status).toBe(200);
      const limited = await review();
      expectRateLimited(limited);
      await expectConformant("GET", "/v1/{workspace_id}/compliance/access-review", limited);
    }, 30_000);
  });

  describe("a limiter that fails", () => {
    it("lets the request through (the limits protect the service; they must not become an outage)", async () => {
      const { owner, workspaceId } = await ownedWorkspace();
      const broken = { limit: async () => Promise.reject(new Error("rate limiter unavailable")) } as unknown as RateLimit;
      const res = await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, env: { CREDENTIAL_RATE_LIMIT: broken } });
      expect(res.status).toBe(200);
    });
  });

  describe("every /v1 and /admin operation", () => {
    it("documents 429 with Retry-After", async () => {
      const doc = (await call<OpenApiDoc>("GET", "/doc")).body;
      for (const [path, operations] of Object.entries(doc.paths)) {
        if (!path.startsWith("/v1/") && !path.startsWith("/admin/")) continue;
        for (const [method, op] of Object.entries(operations)) {
          expect(op.responses["429"]?.description, `${method} ${path}`).toContain("rate_limited");
          expect(op.responses["429"]?.headers?.["Retry-After"], `${method} ${path}`).toBeDefined();
        }
      }
    });
  });
});
