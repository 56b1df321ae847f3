/**
 * Idempotency-Key (docs/guides/retries-and-limits.md): replays, reuse on another request, requests in flight,
 * failures between the write and its record, sealed answers, expiry, and the key's own validation.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../src/jobs/scheduled";
import { sha256Hex } from "../../src/security/secret";
import { IDEMPOTENCY_KEYS_PER_CALLER } from "../../src/storage/idempotency-records";
import type { CreatedApiKey, OpenApiDoc, Workspace } from "../harness/bodies";
import { call, type ErrorBody, errorOf, successOf, type ValidationErrorBody } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { providerToken } from "../harness/issuer";
import { addMember, createApiKey, createWorkspace, mintIdentity, ownedWorkspace, workspaceBody } from "../harness/seed";
import { insertGeneratedRows, interceptD1, interceptKV, keysNamed, storedEvents } from "../harness/storage";

const keyed = (key: string) => ({ "Idempotency-Key": key });
const newKey = () => crypto.randomUUID();
const recordExists = async (key: string) =>
  (await env.DB.prepare("select 1 from idempotency_records where key_hash = ?")
    .bind(await sha256Hex(key))
    .first()) !== null;

async function workspacesWithSlug(slug: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from workspaces where slug = ?").bind(slug).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Moves one key's record past its 24 hours. */
async function expireRecord(key: string) {
  const expired = await env.DB.prepare("update idempotency_records set expires_at = ? where key_hash = ?")
    .bind(new Date(Date.now() - 1000).toISOString(), await sha256Hex(key))
    .run();
  expect(expired.meta.changes).toBe(1);
}

async function auditEventsFor(action: string, workspaceId: string): Promise<number> {
  return (await storedEvents(workspaceId, { action })).length;
}

describe("a retry with the same Idempotency-Key", () => {
  it("gets the first answer again, byte for byte, marked as replayed; one workspace exists", async () => {
    const owner = await mintIdentity();
    const body = workspaceBody();
    const key = newKey();
    const first = await call<Workspace>("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    const retry = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    expect(retry.status).toBe(201);
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.headers.get("content-type")).toMatch(/^application\/json/);
    // The replay is built outside Hono's context: the common headers are added to it afterwards, with the
    // retry's own request id.
    expect(retry.headers.get("x-request-id")).toMatch(/^req_/);
    expect(retry.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
    expect(retry.headers.get("x-content-type-options")).toBe("nosniff");
    expect(retry.headers.get("cache-control")).toBe("no-store");
    expect(await workspacesWithSlug(body.slug)).toBe(1);
    expect(await auditEventsFor("workspace.created", first.body.id)).toBe(1);
    await expectConformant("POST", "/v1/me/workspaces", retry);
  });

  it("gets the same API key and secret, never a second key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const first = await createApiKey(owner.token, workspaceId, { name: "deploy-bot" }, { headers: keyed(key) });
    const retry = await createApiKey(owner.token, workspaceId, { name: "deploy-bot" }, { headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    expect(retry.text).toBe(first.text);
    expect(retry.body.api_key).toBe(first.body.api_key);
    expect(await keysNamed(workspaceId, "deploy-bot")).toBe(1);
    // The replayed secret is the key's working secret.
    expect((await call("GET", "/v1/auth/me", { token: retry.body.api_key })).status).toBe(200);
  });

  it("replays a delete's 204 rather than answering 404 for the key it deleted", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const created = await createApiKey(owner.token, workspaceId);
    const path = `/v1/${workspaceId}/api-keys/${created.body.key_id}`;
    const key = newKey();
    const first = await call("DELETE", path, { token: owner.token, headers: keyed(key) });
    const retry = await call("DELETE", path, { token: owner.token, headers: keyed(key) });
    const unkeyed = await call("DELETE", path, { token: owner.token });
    expect([first.status, retry.status, unkeyed.status]).toEqual([204, 204, 404]);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.text).toBe("");
  });

  it("replays a stored error too: a 409 for a taken slug stays that request's answer", async () => {
    const owner = await mintIdentity();
    const taken = await createWorkspace(owner.token);
    const key = newKey();
    const body = workspaceBody({ slug: taken.body.slug });
    const first = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    const retry = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    expect([first.status, retry.status]).toEqual([409, 409]);
    expect(retry.text).toBe(first.text);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
  });

  it("is a new request once the first answer is older than 24 hours", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const first = await createApiKey(owner.token, workspaceId, { name: "nightly" }, { headers: keyed(key) });
    await expireRecord(key);
    const later = await createApiKey(owner.token, workspaceId, { name: "nightly" }, { headers: keyed(key) });
    expect([first.status, later.status]).toEqual([201, 201]);
    expect(later.headers.get("Idempotent-Replayed")).toBeNull();
    expect(later.body.key_id).not.toBe(first.body.key_id);
    expect(await keysNamed(workspaceId, "nightly")).toBe(2);
  });

  it("is scoped to the principal: another identity's same key runs its own request", async () => {
    const [alice, bob] = [await mintIdentity(), await mintIdentity()];
    const key = newKey();
    const a = await createWorkspace(alice.token, {}, { headers: keyed(key) });
    const b = await createWorkspace(bob.token, {}, { headers: keyed(key) });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.headers.get("Idempotent-Replayed")).toBeNull();
    expect(b.body.id).not.toBe(a.body.id);
  });

  it("does not apply to reads: a GET with a key is answered afresh", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, headers: keyed(key) });
    await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: owner.token, body: { name: "Renamed" } });
    const read = await call<Workspace>("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token, headers: keyed(key) });
    expect(read.body.name).toBe("Renamed");
    expect(read.headers.get("Idempotent-Replayed")).toBeNull();
  });
});

describe("a retry is answered only once its own credential is authorised, as a first attempt would be", () => {
  it("a read-only token of the same person gets the first attempt's 403, not the stored secret", async () => {
    const subject = crypto.randomUUID();
    const full = await providerToken({ subject, claims: { scope: "workspaces:read workspaces:write" } });
    const readOnly = await providerToken({ subject, claims: { scope: "workspaces:read" } });
    const workspace = await createWorkspace(full);
    expect(workspace.status, workspace.text).toBe(201);
    const key = newKey();
    const first = await createApiKey(full, workspace.body.id, { name: "replayed" }, { headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    const replay = await createApiKey<ErrorBody>(readOnly, workspace.body.id, { name: "replayed" }, { headers: keyed(key) });
    expect(replay.status, replay.text).toBe(403);
    expect(replay.body.error_code).toBe("insufficient_scope");
    expect(replay.headers.get("Idempotent-Replayed")).toBeNull();
    expect(replay.text).not.toContain(first.body.api_key);
    // The full token still gets its answer back.
    const again = await createApiKey(full, workspace.body.id, { name: "replayed" }, { headers: keyed(key) });
    expect(again.body.api_key).toBe(first.body.api_key);
  });

  it("a member demoted since the first attempt gets the demoted role's refusal, not the stored answer", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await mintIdentity();
    await addMember(workspaceId, admin, "admin");
    const key = newKey();
    const first = await createApiKey(admin.token, workspaceId, { role: "viewer" }, { headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    const demoted = await call("PATCH", `/v1/${workspaceId}/members/${admin.identity_id}`, {
      token: owner.token,
      body: { role: "viewer" },
    });
    expect(demoted.status, demoted.text).toBe(200);
    const replay = await createApiKey<ErrorBody>(admin.token, workspaceId, { role: "viewer" }, { headers: keyed(key) });
    expect(replay.status, replay.text).toBe(403);
    expect(replay.body.detail).toContain("ApiKey.create");
    expect(replay.text).not.toContain(first.body.api_key);
  });

  it("a member demoted to a role that still creates keys gets a first attempt's refusal, not the replay", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await mintIdentity();
    await addMember(workspaceId, admin, "admin");
    const key = newKey();
    const first = await createApiKey(admin.token, workspaceId, { role: "admin" }, { headers: keyed(key) });
    expect(first.status, first.text).toBe(201);
    const demoted = await call("PATCH", `/v1/${workspaceId}/members/${admin.identity_id}`, {
      token: owner.token,
      body: { role: "member" },
    });
    expect(demoted.status).toBe(200);
    const retry = await createApiKey<ErrorBody>(admin.token, workspaceId, { role: "admin" }, { headers: keyed(key) });
    expect(retry.status, retry.text).toBe(403);
    expect(retry.body.detail).toContain("exceeds your role");
    expect(retry.text).not.toContain(first.body.api_key);
  });

  it("a key rotated by someone else does not hand its new holder the answers of the previous holder", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await mintIdentity();
    await addMember(workspaceId, admin, "admin");
    const shared = await createApiKey(owner.token, workspaceId, { role: "admin", name: "shared" });
    const key = newKey();
    const made = await createApiKey(shared.body.api_key, workspaceId, { role: "admin", name: "made" }, { headers: keyed(key) });
    expect(made.status, made.text).toBe(201);
    const rotated = await call<CreatedApiKey>("POST", `/v1/${workspaceId}/api-keys/${shared.body.key_id}/rotate`, {
      token: admin.token,
      body: { duration_days: 1 },
    });
    expect(rotated.status, rotated.text).toBe(200);
    const retry = await createApiKey(rotated.body.api_key, workspaceId, { role: "admin", name: "made" }, { headers: keyed(key) });
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(retry.text).not.toContain(made.body.api_key);
  });

  it("a refused request stores no record: an unknown workspace, a non-member, a role ceiling", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const stranger = await mintIdentity();
    const member = await mintIdentity();
    await addMember(workspaceId, member, "member");
    const before = await env.DB.prepare("select count(*) as n from idempotency_records").first<{ n: number }>();
    const refusals: [string, () => Promise<{ status: number }>, number][] = [];
    for (let i = 0; i < 20; i++) {
      const key = newKey();
      refusals.push([key, () => createApiKey(owner.token, crypto.randomUUID(), {}, { headers: keyed(key) }), 404]);
    }
    const nonMember = newKey();
    refusals.push([nonMember, () => createApiKey(stranger.token, workspaceId, {}, { headers: keyed(nonMember) }), 403]);
    // Authorised for ApiKey.create, refused by the ceiling after: the reservation is taken back.
    const ceiling = newKey();
    refusals.push([ceiling, () => createApiKey(member.token, workspaceId, { role: "admin" }, { headers: keyed(ceiling) }), 403]);
    for (const [key, send, status] of refusals) {
      expect((await send()).status).toBe(status);
      expect(await recordExists(key)).toBe(false);
    }
    const after = await env.DB.prepare("select count(*) as n from idempotency_records").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
    // The refused attempt left nothing behind: the same key with an allowed body runs as a first attempt, and is kept.
    const allowed = await createApiKey(member.token, workspaceId, { role: "member" }, { headers: keyed(ceiling) });
    expect(allowed.status, allowed.text).toBe(201);
    expect(await recordExists(ceiling)).toBe(true);
  });
});

describe("the same Idempotency-Key on a different request", () => {
  it("is 422 idempotency_key_reused for another body, another path or another method, and writes nothing", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const first = await createApiKey(owner.token, workspaceId, { name: "one" }, { headers: keyed(key) });
    expect(first.status).toBe(201);
    const otherBody = await createApiKey(owner.token, workspaceId, { name: "two" }, { headers: keyed(key) });
    const otherPath = await call("PATCH", `/v1/workspaces/${workspaceId}`, {
      token: owner.token,
      body: { name: "one" },
      headers: keyed(key),
    });
    for (const res of [otherBody, otherPath]) {
      expect(res.status, res.text).toBe(422);
      // FastAPI's 422 body, as upstream types every 422, naming the header
      expect(res.body).toMatchObject({
        error_code: "idempotency_key_reused",
        detail: [
          {
            loc: ["header", "Idempotency-Key"],
            type: "idempotency_key_reused",
            input: key,
            msg: expect.stringContaining("different request"),
          },
        ],
      });
    }
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", otherBody);
    await expectConformant("PATCH", "/v1/workspaces/{workspace_id}", otherPath);
    expect(await keysNamed(workspaceId, "two")).toBe(0);
    expect((await call<Workspace>("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token })).body.name).toBe("Test Workspace");
  });
});

/** KV that holds every `put` of a workspace's region entry until `release()` (create-my-workspace's last step). */
function heldRegionWrites() {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached!: () => void;
  const arrived = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const KV = interceptKV(async (method, key, proceed) => {
    if (method === "put" && String(key).startsWith("workspace-region:")) {
      reached();
      await gate;
    }
    return proceed();
  });
  return { KV, release, arrived };
}

describe("a retry while the first request still runs", () => {
  it("is 409 idempotency_key_in_use with Retry-After; after the first finishes, the retry replays it", async () => {
    const owner = await mintIdentity();
    const body = workspaceBody();
    const key = newKey();
    const held = heldRegionWrites();
    const first = call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key), env: { KV: held.KV } });
    await held.arrived;
    const during = await call<ErrorBody>("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    expect(during.status, during.text).toBe(409);
    expect(during.body.error_code).toBe("idempotency_key_in_use");
    expect(during.headers.get("Retry-After")).toBe("1");
    await expectConformant("POST", "/v1/me/workspaces", during);
    held.release();
    const done = await first;
    const after = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    expect(done.status).toBe(201);
    expect(after.text).toBe(done.text);
    expect(await workspacesWithSlug(body.slug)).toBe(1);
  });

  it("of many identical concurrent creates, exactly one runs: one 201, the rest 409 or replays, one key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        createApiKey<CreatedApiKey | ErrorBody>(owner.token, workspaceId, { name: "burst" }, { headers: keyed(key) }),
      ),
    );
    const created = answers.filter((a) => a.status === 201);
    expect(answers.every((a) => a.status === 201 || (a.status === 409 && errorOf(a)?.error_code === "idempotency_key_in_use"))).toBe(true);
    expect(new Set(created.map((a) => successOf(a)?.api_key)).size).toBe(1);
    expect(created.filter((a) => a.headers.get("Idempotent-Replayed") === null)).toHaveLength(1);
    expect(await keysNamed(workspaceId, "burst")).toBe(1);
  });
});

describe("a request whose Worker was stopped before it answered", () => {
  it("holds its key for its lease (409), then the retry takes the key over and runs", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const path = `/v1/${workspaceId}/api-keys`;
    const body = { duration_days: 30, name: "orphaned" };
    const [past, soon, tomorrow] = [-60_000, 60_000, 86_400_000].map((ms) => new Date(Date.now() + ms).toISOString());
    // What a stopped request leaves behind: a record with no answer, naming an owner that is gone.
    await env.DB.prepare(
      "insert into idempotency_records (scope, key_hash, fingerprint, owner, locked_until, status, sealed_body, created_at, " +
        "expires_at) values (?, ?, ?, 'stopped', ?, null, null, ?, ?)",
    )
      .bind(
        `identity:${owner.identity_id}:owner`,
        await sha256Hex(key),
        await sha256Hex(`POST ${path}\n${JSON.stringify(body)}`),
        soon,
        past,
        tomorrow,
      )
      .run();
    const during = await call<ErrorBody>("POST", path, { token: owner.token, body, headers: keyed(key) });
    expect(during.body.error_code).toBe("idempotency_key_in_use");
    await env.DB.prepare("update idempotency_records set locked_until = ? where key_hash = ?")
      .bind(past, await sha256Hex(key))
      .run();
    const after = await call("POST", path, { token: owner.token, body, headers: keyed(key) });
    expect(after.status, after.text).toBe(201);
    expect(after.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await keysNamed(workspaceId, "orphaned")).toBe(1);
  });
});

describe("a failure between the write and its idempotency record", () => {
  it("cannot double a create: the record commits in the write's own batch (the batch failing leaves neither)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    let failed = false;
    const DB = interceptD1(async (sql, proceed) => {
      if (!failed && sql.includes('insert into "api_keys"')) {
        expect(sql).toContain('update "idempotency_records"');
        failed = true;
        throw new Error("D1_ERROR: Network connection lost.");
      }
      return proceed();
    });
    const broken = await createApiKey(owner.token, workspaceId, { name: "atomic" }, { headers: keyed(key), env: { DB } });
    expect(broken.status).toBe(503);
    expect(await keysNamed(workspaceId, "atomic")).toBe(0);
    const retry = await createApiKey(owner.token, workspaceId, { name: "atomic" }, { headers: keyed(key) });
    expect(retry.status, retry.text).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await keysNamed(workspaceId, "atomic")).toBe(1);
  });

  it("a create whose batch committed but whose answer was lost is replayed, not run again", async () => {
    const owner = await mintIdentity();
    const body = workspaceBody();
    const key = newKey();
    // The region entry cannot be written and neither can the undo: the batch (with the answer) stands.
    const KV = interceptKV(async (method, k, proceed) => {
      if (method === "put" && String(k).startsWith("workspace-region:")) throw new Error("KV PUT failed: 500 Internal Server Error");
      return proceed();
    });
    const DB = interceptD1(async (sql, proceed) => {
      if (sql.startsWith('delete from "audit_events"')) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    });
    const lost = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key), env: { KV, DB } });
    expect(lost.status).toBe(503);
    expect(await workspacesWithSlug(body.slug)).toBe(1);
    const retry = await call<Workspace>("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key) });
    expect(retry.status, retry.text).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect(retry.body.slug).toBe(body.slug);
    expect(await workspacesWithSlug(body.slug)).toBe(1);
  });

  it("an answer of 5xx is not kept: once the undo succeeded, the retry runs and succeeds", async () => {
    const owner = await mintIdentity();
    const body = workspaceBody();
    const key = newKey();
    let failures = 0;
    const KV = interceptKV(async (method, k, proceed) => {
      if (method === "put" && String(k).startsWith("workspace-region:") && failures++ === 0)
        throw new Error("KV PUT failed: 500 Internal Server Error");
      return proceed();
    });
    const first = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key), env: { KV } });
    const retry = await call("POST", "/v1/me/workspaces", { token: owner.token, body, headers: keyed(key), env: { KV } });
    expect([first.status, retry.status]).toEqual([503, 201]);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(await workspacesWithSlug(body.slug)).toBe(1);
  });
});

/** Every text value in every D1 table and every KV value, for a secret to be looked for. */
async function everythingStored(): Promise<string> {
  const tables = await env.DB.prepare(
    "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '_cf_%'",
  ).all<{ name: string }>();
  const parts: string[] = [];
  for (const { name } of tables.results) {
    const rows = await env.DB.prepare(`select * from "${name}"`).all();
    parts.push(name, JSON.stringify(rows.results));
  }
  let cursor: string | undefined;
  do {
    const page = await env.KV.list({ cursor });
    for (const { name } of page.keys) parts.push(name, (await env.KV.get(name)) ?? "");
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return parts.join("\n");
}

describe("answers that carry a secret", () => {
  it("are stored sealed: after a create and its replay, the secret is nowhere in D1 or KV", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const first = await createApiKey(owner.token, workspaceId, {}, { headers: keyed(key) });
    const replay = await createApiKey(owner.token, workspaceId, {}, { headers: keyed(key) });
    const rotateKey = newKey();
    const rotated = await call<CreatedApiKey>("POST", `/v1/${workspaceId}/api-keys/${first.body.key_id}/rotate`, {
      token: owner.token,
      body: { duration_days: 7 },
      headers: keyed(rotateKey),
    });
    const rotatedReplay = await call("POST", `/v1/${workspaceId}/api-keys/${first.body.key_id}/rotate`, {
      token: owner.token,
      body: { duration_days: 7 },
      headers: keyed(rotateKey),
    });
    expect(replay.body.api_key).toBe(first.body.api_key);
    expect(rotatedReplay.text).toBe(rotated.text);
    expect(rotatedReplay.headers.get("Idempotent-Replayed")).toBe("true");
    const stored = await everythingStored();
    expect(stored).toContain("idempotency_records"); // the scan does read the records' table
    for (const secret of [first.body.api_key, rotated.body.api_key]) {
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice(4, 20));
    }
    // The table holds the key's hash, never the key.
    expect(stored).not.toContain(key);
  });

  it("can be read back only with the Idempotency-Key and the server secret that sealed them", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = newKey();
    const first = await createApiKey(owner.token, workspaceId, { name: "sealed" }, { headers: keyed(key) });
    // Under another server secret the record cannot be opened: the request is not run again either.
    const rotatedSecret = await createApiKey<ErrorBody>(
      owner.token,
      workspaceId,
      { name: "sealed" },
      { headers: keyed(key), env: { IDEMPOTENCY_SECRET: "another-idempotency-secret-0123456789abcdef" } },
    );
    expect(rotatedSecret.status, rotatedSecret.text).toBe(409);
    expect(rotatedSecret.body.error_code).toBe("conflict");
    expect(rotatedSecret.text).not.toContain(first.body.api_key);
    expect(await keysNamed(workspaceId, "sealed")).toBe(1);
  });

  it("need IDEMPOTENCY_SECRET: without it (or with a short one), a keyed write is 503 and nothing runs", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    for (const IDEMPOTENCY_SECRET of [undefined, "short"]) {
      const res = await createApiKey(
        owner.token,
        workspaceId,
        { name: "unsealed" },
        { headers: keyed(newKey()), env: { IDEMPOTENCY_SECRET } as never },
      );
      expect(res.status, res.text).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("1");
    }
    expect(await keysNamed(workspaceId, "unsealed")).toBe(0);
    // Without a key the write needs no secret.
    expect(
      (await createApiKey(owner.token, workspaceId, { name: "unsealed" }, { env: { IDEMPOTENCY_SECRET: undefined } as never })).status,
    ).toBe(201);
  });
});

describe("the Idempotency-Key header", () => {
  it("takes 1 to 255 printable ASCII characters; anything else is 422 at ['header', 'Idempotency-Key']", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const cases: [string, string][] = [
      ["", "string_too_short"],
      ["k".repeat(256), "string_too_long"],
      ["del\x7fchar", "string_pattern_mismatch"],
      ["tab\there", "string_pattern_mismatch"],
    ];
    for (const [value, type] of cases) {
      const res = await createApiKey<ValidationErrorBody>(owner.token, workspaceId, { name: "bad-key" }, { headers: keyed(value) });
      expect(res.status, `${JSON.stringify(value)}: ${res.text}`).toBe(422);
      expect(res.body.detail[0]).toMatchObject({ loc: ["header", "Idempotency-Key"], type });
      await expectConformant("POST", "/v1/{workspace_id}/api-keys", res);
    }
    expect(await keysNamed(workspaceId, "bad-key")).toBe(0);
    const longest = await createApiKey(owner.token, workspaceId, { name: "ok-key" }, { headers: keyed("k".repeat(255)) });
    expect(longest.status).toBe(201);
  });

  it("is documented on every POST, PUT, PATCH and DELETE under /v1, with its 409 and 422", async () => {
    const doc = (await call<OpenApiDoc>("GET", "/doc")).body;
    const writes = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([method]) => ["post", "put", "patch", "delete"].includes(method) && path.startsWith("/v1/"))
        .map(([method, op]) => ({ name: `${method} ${path}`, op })),
    );
    expect(writes.length).toBeGreaterThanOrEqual(11);
    for (const { name, op } of writes) {
      const header = op.parameters?.find((p) => p.in === "header" && p.name === "Idempotency-Key");
      expect(header, name).toMatchObject({ required: false, schema: { type: "string", minLength: 1, maxLength: 255 } });
      expect(op.responses["409"]?.description, name).toContain("idempotency_key_in_use");
      expect(op.responses["409"]?.headers?.["Retry-After"], name).toBeDefined();
      expect(op.responses["422"]?.description, name).toContain("idempotency_key_reused");
      const success = Object.entries(op.responses).filter(([status]) => status.startsWith("2"));
      expect(success.length, name).toBeGreaterThan(0);
      for (const [, response] of success) expect(response.headers?.["Idempotent-Replayed"], name).toBeDefined();
    }
  });
});

/** `count` records of `scope` straight in D1, as that many keyed writes would leave them (`expiresAt` decides if they count). */
function fill(scope: string, count: number, expiresAt: string, holder: string | null = null) {
  const at = new Date().toISOString();
  const columns = "scope, key_hash, fingerprint, owner, locked_until, status, sealed_body, created_at, expires_at, holder";
  const values = "?, printf('%064d', n.i), 'filled', 'filled', ?, 204, null, ?, ?, ?";
  return insertGeneratedRows("idempotency_records", count, columns, values, scope, at, at, expiresAt, holder);
}

describe("expired records", () => {
  it("are deleted by the cron trigger; live ones stay", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const [kept, expired] = [newKey(), newKey()];
    await createApiKey(owner.token, workspaceId, {}, { headers: keyed(kept) });
    await createApiKey(owner.token, workspaceId, {}, { headers: keyed(expired) });
    await expireRecord(expired);
    const recordOf = async (key: string) =>
      env.DB.prepare("select 1 from idempotency_records where key_hash = ?")
        .bind(await sha256Hex(key))
        .first();
    const result = await runScheduled(env);
    expect(result?.idempotencyRecords).toBeGreaterThanOrEqual(1);
    expect(await recordOf(expired)).toBeNull();
    expect(await recordOf(kept)).not.toBeNull();
  });

  it("are deleted ten times faster than one caller can make them: 25,000 in one run", async () => {
    const scope = `identity:${crypto.randomUUID()}`;
    await fill(scope, 25_000, new Date(Date.now() - 1000).toISOString());
    const result = await runScheduled(env);
    expect(result?.idempotencyRecords).toBeGreaterThanOrEqual(25_000);
    const left = await env.DB.prepare("select count(*) as n from idempotency_records where scope = ?").bind(scope).first<number>("n");
    expect(left).toBe(0);
  });
});

describe("the records one person may hold", () => {
  const heldBy = async (holder: string) =>
    (
      await env.DB.prepare("select count(*) as n from idempotency_records where holder = ? and expires_at > ?")
        .bind(holder, new Date().toISOString())
        .first<{ n: number }>()
    )?.n;
  const tomorrow = () => new Date(Date.now() + 86_400_000).toISOString();
  const yesterday = () => new Date(Date.now() - 1000).toISOString();

  it("stops at IDEMPOTENCY_KEYS_PER_CALLER live keys: a new key past it is 403 quota_exceeded and stores nothing", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const who = owner.identity_id;
    // All but two of the person's places taken, across their scopes (with and without a role, and a key they
    // hold); expired records do not count.
    await fill(`identity:${who}:owner`, IDEMPOTENCY_KEYS_PER_CALLER - 100, tomorrow(), who);
    await fill(`api_key:${crypto.randomUUID()}:${who}:admin`, 98, tomorrow(), who);
    await fill(`identity:${who}:admin`, 500, yesterday(), who);
    expect(await heldBy(who)).toBe(IDEMPOTENCY_KEYS_PER_CALLER - 2);

    const [first, second, third] = [newKey(), newKey(), newKey()];
    expect((await createApiKey(owner.token, workspaceId, { name: "a" }, { headers: keyed(first) })).status).toBe(201);
    expect((await createApiKey(owner.token, workspaceId, { name: "b" }, { headers: keyed(second) })).status).toBe(201);
    const refused = await createApiKey<ErrorBody>(owner.token, workspaceId, { name: "c" }, { headers: keyed(third) });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.error_code).toBe("quota_exceeded");
    expect(refused.body.detail).toContain("without an Idempotency-Key");
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", refused);
    expect(await recordExists(third)).toBe(false);
    expect(await heldBy(who)).toBe(IDEMPOTENCY_KEYS_PER_CALLER);
    expect(await keysNamed(workspaceId, "c")).toBe(0);

    // What the person already holds is answered as always; their other requests, and other people, go on.
    const retry = await createApiKey(owner.token, workspaceId, { name: "a" }, { headers: keyed(first) });
    expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
    expect((await createApiKey(owner.token, workspaceId, { name: "c" })).status).toBe(201);
    const other = await ownedWorkspace();
    expect((await createApiKey(other.owner.token, other.workspaceId, {}, { headers: keyed(newKey()) })).status).toBe(201);
  });

  it("counts the API keys a person holds with their own tokens: a key they make brings no room of its own", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const made = await createApiKey(owner.token, workspaceId, { role: "admin" });
    expect(made.status, made.text).toBe(201);
    await fill(`identity:${owner.identity_id}:owner`, IDEMPOTENCY_KEYS_PER_CALLER, tomorrow(), owner.identity_id);
    const byKey = await call<ErrorBody>("DELETE", `/v1/${workspaceId}/api-keys/key_doesnotexist`, {
      token: made.body.api_key,
      headers: keyed(newKey()),
    });
    expect(byKey.status, byKey.text).toBe(403);
    expect(byKey.body.error_code).toBe("quota_exceeded");
    // Another member of the workspace has their own room.
    const member = await mintIdentity();
    await addMember(workspaceId, member, "admin");
    expect((await createApiKey(member.token, workspaceId, { role: "viewer" }, { headers: keyed(newKey()) })).status).toBe(201);
  });

  it("takes no expired record for a held place: at the limit, an old key's expired record is refused like a new key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const who = owner.identity_id;
    const old = newKey();
    expect((await createApiKey(owner.token, workspaceId, { name: "old" }, { headers: keyed(old) })).status).toBe(201);
    await expireRecord(old);
    await fill(`identity:${who}:owner`, IDEMPOTENCY_KEYS_PER_CALLER, tomorrow(), who);
    const again = await createApiKey<ErrorBody>(owner.token, workspaceId, { name: "old" }, { headers: keyed(old) });
    expect(again.status, again.text).toBe(403);
    expect(again.body.error_code).toBe("quota_exceeded");
    expect(await heldBy(who)).toBe(IDEMPOTENCY_KEYS_PER_CALLER);
  });
});
