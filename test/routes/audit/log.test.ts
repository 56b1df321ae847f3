/**
 * The verifiable audit log through the API (docs/guides/audit.md, "Proving the trail"): the region's keys,
 * checkpoints, an event's inclusion proof, consistency proofs and exports that carry proofs, each checked
 * as an auditor's tools check them (RFC 9162 hashing, C2SP signed checkpoints) and against /doc.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { seedAuditEvents } from "../../../scripts/seed-audit-events.mjs";
import { eventLeafHash } from "../../../src/security/transparency/leaf";
import { verifyConsistency } from "../../../src/security/transparency/merkle";
import { fromBase64, generateKeyPair, parseVerifierKey } from "../../../src/security/transparency/signed-note";
import { auditEvent, insertEvent } from "../../../src/storage/audit-events/record";
import { dbFor } from "../../../src/storage/d1/client";
import { expectVerifiedExport, openedCheckpoint, parseExport, proves, regionVerifiers } from "../../harness/audit-log";
import type { AuditEventPage, AuditExport } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, createApiKey, type MintedIdentity, mintIdentity, ownedWorkspace } from "../../harness/seed";

type Checkpoint = { log: string; size: number; signed_at: string; checkpoint: string };
type CheckpointList = {
  checkpoints: Checkpoint[];
  total: number;
  limit: number;
  offset: number;
  has_more: boolean;
  next_offset: number | null;
};
type Proof = { log: string; index: number; size: number; hashes: string[]; checkpoint: string };
type Consistency = { log: string; from: number; to: number; hashes: string[] };

const YEAR = new Date().getUTCFullYear();
let owner: MintedIdentity;
let workspaceId: string;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
  for (let i = 0; i < 3; i++) expect((await createApiKey(owner.token, workspaceId, { name: `k${i}` })).status).toBe(201);
});

const events = async (token = owner.token) =>
  (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?limit=100`, { token })).body.events;

async function proofOf(eventId: string, token = owner.token) {
  return call<Proof>("GET", `/v1/${workspaceId}/audit/${eventId}/proof`, { token });
}

async function checkpoints(query = "", token = owner.token) {
  const res = await call<CheckpointList>("GET", `/v1/${workspaceId}/audit/checkpoints${query}`, { token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", "/v1/{workspace_id}/audit/checkpoints", res);
  return res.body;
}

describe("the region's keys", () => {
  it("serves the signing key's verifier, then the retired ones, one per line, with no token", async () => {
    const res = await call("GET", "/.well-known/audit-keys", { token: null });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const [current] = res.text.trim().split("\n");
    expect(await parseVerifierKey(current!)).toMatchObject({ name: "localhost/audit" });
    const retired = (await generateKeyPair("localhost/audit")).verifier;
    const rotated = await call("GET", "/.well-known/audit-keys", { token: null, env: { AUDIT_RETIRED_VERIFIER_KEYS: `${retired}\n` } });
    expect(rotated.text).toBe(`${current}\n${retired}\n`);
  });

  it("answers 503 when no key is configured, and so do the routes that sign", async () => {
    const unset = { AUDIT_SIGNING_KEY: "", AUDIT_RETIRED_VERIFIER_KEYS: "" };
    const keys = await call<ErrorBody>("GET", "/.well-known/audit-keys", { token: null, env: unset });
    expect([keys.status, keys.body.error_code]).toEqual([503, "service_unavailable"]);
    const [event] = await events();
    for (const path of [`/v1/${workspaceId}/audit/checkpoints`, `/v1/${workspaceId}/audit/${event!.id}/proof`]) {
      const res = await call<ErrorBody>("GET", path, { token: owner.token, env: { AUDIT_SIGNING_KEY: "not a key" } });
      expect([res.status, res.body.error_code, res.body.detail]).toEqual([
        503,
        "service_unavailable",
        "Audit log signing is not configured in this deployment.",
      ]);
    }
  });
});

describe("an event's inclusion proof", () => {
  it("proves every listed event against a checkpoint the region's keys signed", async () => {
    const verifiers = await regionVerifiers();
    const listed = await events();
    expect(listed.length).toBe(4); // the workspace's creation and three keys
    for (const event of listed) {
      const res = await proofOf(event.id);
      expect(res.status, res.text).toBe(200);
      await expectConformant("GET", "/v1/{workspace_id}/audit/{event_id}/proof", res);
      const { checkpoint, ...proof } = res.body;
      expect(proof.log).toBe(`localhost/audit/${workspaceId}/${YEAR}`);
      const opened = await openedCheckpoint(checkpoint, verifiers);
      expect(proves(event, proof, opened)).toBe(true);
      // The proof is of the event as listed, byte for byte: any other field value breaks it.
      expect(proves({ ...event, resource_name: "forged" }, proof, opened)).toBe(false);
    }
    // Leaves are in append order: the workspace's creation came first.
    expect((await proofOf(listed[listed.length - 1]!.id)).body.index).toBe(0);
  });

  it("answers 404 for an event the workspace's trail does not hold, 422 for a malformed id, 403 without Audit.view", async () => {
    const other = await ownedWorkspace();
    const [foreign] = (await call<AuditEventPage>("GET", `/v1/${other.workspaceId}/audit`, { token: other.owner.token })).body.events;
    for (const id of [crypto.randomUUID(), foreign!.id]) {
      const res = await proofOf(id);
      expect([res.status, (res.body as unknown as ErrorBody).error_code]).toEqual([404, "not_found"]);
    }
    const malformed = await call<ValidationErrorBody>("GET", `/v1/${workspaceId}/audit/not-a-uuid/proof`, { token: owner.token });
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0]?.loc).toEqual(["path", "event_id"]);
    const member = await apiKeyWithRole(owner.token, workspaceId, "member");
    const [event] = await events();
    const refused = await proofOf(event!.id, member.secret);
    expect(refused.status).toBe(403);
  });
});

describe("checkpoints and consistency", () => {
  it("signs a new checkpoint when asked after the log grew, keeps every one, and proves the later extends the earlier", async () => {
    const verifiers = await regionVerifiers();
    const before = (await checkpoints()).checkpoints;
    expect(before.map((c) => c.log)).toEqual([`localhost/audit/${workspaceId}/${YEAR}`]);
    const earlier = await openedCheckpoint(before[0]!.checkpoint, verifiers);
    expect(earlier.size).toBe(before[0]!.size);

    expect((await createApiKey(owner.token, workspaceId, { name: "later" })).status).toBe(201);
    const [latest] = (await checkpoints()).checkpoints;
    const later = await openedCheckpoint(latest!.checkpoint, verifiers);
    expect(later.size).toBe(earlier.size + 1);

    const history = await checkpoints(`?year=${YEAR}`);
    expect(history.checkpoints.map((c) => c.size).slice(0, 2)).toEqual([later.size, earlier.size]);
    expect(history.total).toBe(history.checkpoints.length);

    const res = await call<Consistency>("GET", `/v1/${workspaceId}/audit/consistency?year=${YEAR}&from=${earlier.size}`, {
      token: owner.token,
    });
    expect(res.status, res.text).toBe(200);
    await expectConformant("GET", "/v1/{workspace_id}/audit/consistency", res);
    expect(res.body).toMatchObject({ log: later.origin, from: earlier.size, to: later.size });
    const hashes = res.body.hashes.map((hash) => fromBase64(hash) as Uint8Array);
    expect(verifyConsistency(earlier.size, later.size, earlier.root, later.root, hashes)).toBe(true);
    expect(verifyConsistency(earlier.size, later.size, eventLeafHash({ forged: true }), later.root, hashes)).toBe(false);
  });

  it("refuses sizes the log does not have (422) and years it has no log of (404)", async () => {
    const { size } = (await checkpoints()).checkpoints[0]!;
    const consistency = (query: string) =>
      call<ValidationErrorBody & ErrorBody>("GET", `/v1/${workspaceId}/audit/consistency?${query}`, { token: owner.token });
    const beyond = await consistency(`year=${YEAR}&from=1&to=${size + 5}`);
    expect([beyond.status, beyond.body.detail[0]?.loc]).toEqual([422, ["query", "to"]]);
    const backwards = await consistency(`year=${YEAR}&from=${size}&to=1`);
    expect([backwards.status, backwards.body.detail[0]?.loc]).toEqual([422, ["query", "from"]]);
    const zero = await consistency(`year=${YEAR}&from=0`);
    expect([zero.status, zero.body.detail[0]?.loc]).toEqual([422, ["query", "from"]]);
    const noLog = await consistency("year=2001&from=1");
    expect([noLog.status, noLog.body.error_code]).toEqual([404, "not_found"]);
    expect((await checkpoints("?year=2001")).checkpoints).toEqual([]);
  });
});

describe("exports carry their proofs", () => {
  it("proves every line of an export that spans a year boundary with one checkpoint per year's log", async () => {
    const { owner: o, workspaceId: id } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId: id, count: 40, from: `${YEAR - 1}-12-31T23:59:40.000Z` }); // 20 in each year
    const res = await call<AuditExport>("POST", `/v1/${id}/audit/export`, {
      token: o.token,
      body: { date_from: `${YEAR - 1}-12-31T00:00:00Z`, date_to: `${YEAR}-01-02T00:00:00Z` },
    });
    expect(res.status, res.text).toBe(200);
    const object = await env.AUDIT_EXPORTS.get(res.body.s3_key);
    const file = parseExport(await object!.text());
    expect(file.events).toHaveLength(40);
    const logs = await expectVerifiedExport(file, await regionVerifiers());
    expect([...logs.keys()]).toEqual([`localhost/audit/${id}/${YEAR - 1}`, `localhost/audit/${id}/${YEAR}`]);
    // Each year's lines are its log's leaves in order; the listed events, byte for byte.
    const listed = (await call<AuditEventPage>("GET", `/v1/${id}/audit?limit=100&date_to=${YEAR}-01-02T00:00:00Z`, { token: o.token })).body
      .events;
    expect(file.events).toEqual([...listed].reverse());
  });
});

describe("text that is not Unicode never reaches the log", () => {
  it("refuses a body with a lone surrogate escape (422 at its field), and the trail stays readable", async () => {
    const res = await call<ValidationErrorBody>("PATCH", `/v1/workspaces/${workspaceId}`, {
      token: owner.token,
      rawBody: '{"name": "bad \\ud83d"}',
      headers: { "content-type": "application/json" },
    });
    expect([res.status, res.body.detail[0]?.loc, res.body.detail[0]?.type]).toEqual([422, ["body", "name"], "string_unicode"]);
    const paired = await call("PATCH", `/v1/workspaces/${workspaceId}`, {
      token: owner.token,
      rawBody: '{"name": "fine \\ud83d\\ude00"}',
      headers: { "content-type": "application/json" },
    });
    expect(paired.status, paired.text).toBe(200);
    const [latest] = await events();
    expect(latest).toMatchObject({ action: "workspace.updated", metadata: { changes: { name: { new: "fine \u{1F600}" } } } });
    expect((await proofOf(latest!.id)).status).toBe(200);
  });

  it("stores an event that reached the outbox with one anyway as well-formed text (U+FFFD), so its trail goes on", async () => {
    const { owner: o, workspaceId: id } = await ownedWorkspace();
    const db = dbFor(env.DB);
    const event = auditEvent(
      { entityId: o.identity_id, credentialId: null, ipAddress: null, userAgent: null },
      {
        workspaceId: id,
        action: "workspace.updated",
        resourceType: "workspace",
        resourceId: id,
        resourceName: "Acme",
        // D1 keeps a column's text as UTF-8 (a lone surrogate comes back as U+FFFDs), but metadata is JSON,
        // whose `\ud83d` escape reaches the store as it was.
        metadata: { changes: { name: { old: "ok", new: "bad \ud83d" } } },
      },
    );
    await insertEvent(db, event);
    const listed = await call<AuditEventPage>("GET", `/v1/${id}/audit`, { token: o.token });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.events.find((e) => e.id === event.id)?.metadata).toEqual({ changes: { name: { old: "ok", new: "bad \uFFFD" } } });
    const proof = await call<Proof>("GET", `/v1/${id}/audit/${event.id}/proof`, { token: o.token });
    expect(proof.status, proof.text).toBe(200);
  });
});

describe("the operator log proves itself too (the admin routes)", () => {
  const admin = () => env.ADMIN_TOKEN;
  const operatorLog = `localhost/audit/operator-log/${YEAR}`;
  const operatorCheckpoints = async () => {
    const res = await call<CheckpointList>("GET", "/admin/audit/checkpoints", { token: admin() });
    expect(res.status, res.text).toBe(200);
    await expectConformant("GET", "/admin/audit/checkpoints", res);
    return res.body.checkpoints;
  };

  it("proves every event the operator log lists, signs a checkpoint when it grew and proves the later extends the earlier", async () => {
    const verifiers = await regionVerifiers();
    await mintIdentity(); // an identity.created event of the operator log
    const listed = (await call<AuditEventPage>("GET", "/admin/audit?limit=100", { token: admin() })).body.events;
    expect(listed.length).toBeGreaterThan(0);
    for (const event of listed) {
      const res = await call<Proof>("GET", `/admin/audit/${event.id}/proof`, { token: admin() });
      expect(res.status, res.text).toBe(200);
      await expectConformant("GET", "/admin/audit/{event_id}/proof", res);
      const { checkpoint, ...proof } = res.body;
      expect(proof.log).toBe(operatorLog);
      // The leaf is the event as admin-list-audit-events lists it, byte for byte.
      const opened = await openedCheckpoint(checkpoint, verifiers);
      expect(proves(event, proof, opened)).toBe(true);
      expect(proves({ ...event, action: "identity.revoked" }, proof, opened)).toBe(false);
    }

    const [earlier] = await operatorCheckpoints();
    expect(earlier!.log).toBe(operatorLog);
    await mintIdentity();
    const [later] = await operatorCheckpoints();
    expect(later!.size).toBe(earlier!.size + 1);
    const res = await call<Consistency>("GET", `/admin/audit/consistency?year=${YEAR}&from=${earlier!.size}`, { token: admin() });
    expect(res.status, res.text).toBe(200);
    await expectConformant("GET", "/admin/audit/consistency", res);
    const [from, to] = [await openedCheckpoint(earlier!.checkpoint, verifiers), await openedCheckpoint(later!.checkpoint, verifiers)];
    const hashes = res.body.hashes.map((hash) => fromBase64(hash) as Uint8Array);
    expect(res.body).toMatchObject({ log: operatorLog, from: from.size, to: to.size });
    expect(verifyConsistency(from.size, to.size, from.root, to.root, hashes)).toBe(true);
  });

  it("answers 401 without the admin token, 404 for a workspace's event and for a year with no log, 503 with no signing key", async () => {
    const [event] = await events();
    for (const path of ["/admin/audit/checkpoints", `/admin/audit/${event!.id}/proof`, `/admin/audit/consistency?year=${YEAR}&from=1`]) {
      expect((await call("GET", path, { token: owner.token })).status).toBe(401);
    }
    const workspaceEvent = await call<ErrorBody>("GET", `/admin/audit/${event!.id}/proof`, { token: admin() });
    expect([workspaceEvent.status, workspaceEvent.body.error_code]).toEqual([404, "not_found"]);
    const noLog = await call<ErrorBody>("GET", "/admin/audit/consistency?year=2001&from=1", { token: admin() });
    expect([noLog.status, noLog.body.detail]).toEqual([404, "The operator log has no audit log of 2001."]);
    const unsigned = await call<ErrorBody>("GET", "/admin/audit/checkpoints", { token: admin(), env: { AUDIT_SIGNING_KEY: "" } });
    expect([unsigned.status, unsigned.body.error_code]).toEqual([503, "service_unavailable"]);
  });
});
