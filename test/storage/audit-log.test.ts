/**
 * The audit store's own checks (docs/guides/audit.md, "Proving the trail"): what someone with the store's
 * database (a bug, an operator, an attacker) could do to the trail behind the API's back, done with plain
 * SQL inside the store, and the API refusing to prove anything of the tampered log (500
 * `audit_integrity_failure`, logged). Also what may legitimately change a store (a retraction, a prune, a
 * legal hold, a key rotation, a store from before the log) and that every proof still verifies after it.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/durable-sqlite";
import { describe, expect, it } from "vitest";
import { seedAuditEvents } from "../../scripts/seed-audit-events.mjs";
import { generateKeyPair, parseSignerKey, parseVerifierKey, type Signer, signNote } from "../../src/security/transparency/signed-note";
import { listedEvent } from "../../src/storage/audit-events/listed";
import { EventLog, isIntegrityFailure } from "../../src/storage/audit-store/log";
import { CHECKPOINT_INTERVAL_MS } from "../../src/storage/audit-store/object";
import { auditStoreOf, forwardScope, retractEvent } from "../../src/storage/audit-store/outbox";
import { openedCheckpoint, proves, regionVerifiers } from "../harness/audit-log";
import type { AuditEventPage, AuditExport } from "../harness/bodies";
import { call, type ErrorBody } from "../harness/call";
import { createApiKey, ownedWorkspace } from "../harness/seed";
import { testStorage } from "../harness/storage";

const YEAR = new Date().getUTCFullYear();
type Proof = { log: string; index: number; size: number; hashes: string[]; checkpoint: string };

/** A workspace with five events in its store and a signed checkpoint over them. */
async function provenTrail() {
  const { owner, workspaceId } = await ownedWorkspace();
  for (let i = 0; i < 4; i++) expect((await createApiKey(owner.token, workspaceId, { name: `k${i}` })).status).toBe(201);
  const events = (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit`, { token: owner.token })).body.events.reverse();
  expect(events).toHaveLength(5);
  const proof = (id: string) => call<Proof & ErrorBody>("GET", `/v1/${workspaceId}/audit/${id}/proof`, { token: owner.token });
  expect((await proof(events[0]!.id)).status).toBe(200); // signs the checkpoint of 5
  const stub = env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:${YEAR}`));
  const sql = (query: string, ...bindings: (string | number | null)[]) =>
    runInDurableObject(stub, (_object, state) => state.storage.sql.exec(query, ...bindings).toArray());
  return { owner, workspaceId, events, proof, stub, sql };
}

const refused = (res: { status: number; body: unknown }) => [res.status, (res.body as ErrorBody).error_code];
const INTEGRITY = [500, "audit_integrity_failure"];

describe("tampering inside a store is caught by the store's own checks", () => {
  it("a changed event: its proof is refused, an export refused, the others still proven", async () => {
    const { owner, workspaceId, events, proof, sql } = await provenTrail();
    await sql("update audit_events set resource_name = 'edited' where id = ?", events[2]!.id);
    expect(refused(await proof(events[2]!.id))).toEqual(INTEGRITY);
    expect((await proof(events[3]!.id)).status).toBe(200);
    const exported = await call<AuditExport>("POST", `/v1/${workspaceId}/audit/export`, {
      token: owner.token,
      body: { date_from: `${YEAR}-01-01T00:00:00Z`, date_to: `${YEAR}-12-31T23:59:59Z` },
    });
    expect(refused(exported)).toEqual(INTEGRITY);
  });

  it("a deleted event: nothing more is proven (the leaves no longer add up)", async () => {
    const { workspaceId, owner, events, proof, sql } = await provenTrail();
    await sql("delete from audit_events where id = ?", events[1]!.id);
    expect(refused(await proof(events[3]!.id))).toEqual(INTEGRITY);
    const listed = await call<ErrorBody>("GET", `/v1/${workspaceId}/audit/checkpoints`, { token: owner.token });
    expect(refused(listed)).toEqual(INTEGRITY);
  });

  it("two events reordered: neither is proven", async () => {
    const { events, proof, sql } = await provenTrail();
    const [a, b] = [events[1]!.id, events[2]!.id];
    await sql("update audit_events set seq = -seq where id in (?, ?)", a, b);
    await sql("update audit_events set seq = case id when ? then 3 else 2 end where id in (?, ?)", a, a, b);
    expect(refused(await proof(a))).toEqual(INTEGRITY);
    expect(refused(await proof(b))).toEqual(INTEGRITY);
  });

  it("an inserted event: it is not proven, and nothing else is either", async () => {
    const { events, proof, sql } = await provenTrail();
    const forged = crypto.randomUUID();
    await sql(
      `insert into audit_events (seq, id, workspace_id, service, action, resource_type, timestamp)
       select 100, ?, workspace_id, service, action, resource_type, timestamp from audit_events where id = ?`,
      forged,
      events[1]!.id,
    );
    expect(refused(await proof(forged))).toEqual(INTEGRITY);
    expect(refused(await proof(events[0]!.id))).toEqual(INTEGRITY);
  });

  it("a leaf changed in the tree (and the counts left right): the next checkpoint is not signed", async () => {
    const { owner, workspaceId, events, proof, stub } = await provenTrail();
    await runInDurableObject(stub, (_object, state) => {
      const [tile] = state.storage.sql.exec<{ hashes: ArrayBuffer }>("select hashes from tree_tiles where level = 0 and idx = 0").toArray();
      const edited = new Uint8Array(tile!.hashes);
      edited.fill(0, 0, 32); // leaf 0's hash
      state.storage.sql.exec("update tree_tiles set hashes = ? where level = 0 and idx = 0", edited.buffer);
    });
    expect(refused(await proof(events[0]!.id))).toEqual(INTEGRITY);
    // A new event makes the log grow: the tree no longer extends the signed checkpoint of 5.
    expect((await createApiKey(owner.token, workspaceId, { name: "after" })).status).toBe(201);
    expect(refused(await call("GET", `/v1/${workspaceId}/audit/checkpoints`, { token: owner.token }))).toEqual(INTEGRITY);
  });

  it("a forged checkpoint, or one signed by a key the region does not know, is not handed out", async () => {
    const { events, proof, sql } = await provenTrail();
    const [{ note }] = (await sql("select note from checkpoints order by size desc limit 1")) as [{ note: string }];
    await sql("update checkpoints set note = ? where size = 5", note.replace("\n5\n", "\n4\n"));
    expect(refused(await proof(events[0]!.id))).toEqual(INTEGRITY);

    const stranger = (await parseSignerKey((await generateKeyPair("localhost/audit")).signer)) as Signer;
    const body = note.slice(0, note.indexOf("\n\n") + 1);
    await sql("update checkpoints set note = ? where size = 5", await signNote(body, stranger));
    expect(refused(await proof(events[0]!.id))).toEqual(INTEGRITY);
  });
});

describe("what may change a store keeps every proof verifying", () => {
  it("an undone write's event: its leaf stays, the log records the retraction, and the rest is proven", async () => {
    const { workspaceId, owner, events, proof } = await provenTrail();
    await retractEvent(testStorage(), workspaceId, { id: events[2]!.id, timestamp: events[2]!.timestamp });
    expect((await proof(events[2]!.id)).status).toBe(404);
    const after = (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit`, { token: owner.token })).body.events;
    const entry = after.find((e) => e.action === "audit.event_retracted")!;
    expect(entry).toMatchObject({ resource_type: "audit_event", resource_id: events[2]!.id, metadata: { leaf_index: 2 } });
    const verifiers = await regionVerifiers();
    for (const event of after) {
      const res = await proof(event.id);
      expect(res.status, res.text).toBe(200);
      const { checkpoint, ...path } = res.body;
      expect(proves(event, path, await openedCheckpoint(checkpoint, verifiers))).toBe(true);
    }
    expect((await proof(entry.id)).body.index).toBe(5); // the log's sixth leaf; the withdrawn one is still leaf 2
  });

  it("an undo after New Year: the log's entry is dated in the retracted event's year, the year of its log", async () => {
    const workspaceId = crypto.randomUUID();
    const storage = testStorage();
    await seedAuditEvents(env.DB, { workspaceId, count: 1, from: `${YEAR - 1}-12-31T23:59:59.000Z` });
    await forwardScope(storage, workspaceId);
    const store = auditStoreOf(storage, workspaceId, YEAR - 1);
    const [event] = await store.page({}, 1, 0);
    await retractEvent(storage, workspaceId, { id: event!.id, timestamp: event!.timestamp });
    const [entry] = await store.page({}, 1, 0);
    expect(entry).toMatchObject({ action: "audit.event_retracted", resourceId: event!.id, timestamp: `${YEAR - 1}-12-31T23:59:59.999Z` });
  });

  it("a retention prune keeps what the remaining events' proofs need: about 2 bytes per pruned event", async () => {
    const workspaceId = crypto.randomUUID(); // a trail of only these events, oldest first
    const storage = testStorage();
    await seedAuditEvents(env.DB, { workspaceId, count: 600, from: `${YEAR}-01-01T00:00:00.000Z` });
    await forwardScope(storage, workspaceId);
    const store = auditStoreOf(storage, workspaceId, YEAR);
    const signed = await store.checkpoint();
    expect(isIntegrityFailure(signed) || signed === null).toBe(false);
    const before = await store.stats();
    expect(before.leaves).toBe(600);
    expect(before.treeBytes / before.leaves).toBeLessThan(36); // 32 bytes a leaf, and a sixteenth more per level of tiles

    const pruned = await store.prune({ cutoff: `${YEAR}-01-01T00:05:00.000Z`, legalHold: false, policyVersion: 0, limit: 1000 });
    expect(pruned.deleted).toBe(300);
    const after = await store.stats();
    // Tiles of leaves wholly pruned go, but the last (272 of the 300: 17 full tiles); the tiles above stay.
    const leftForPruned = after.treeBytes - 32 * (after.leaves - 272) - (before.treeBytes - 32 * before.leaves);
    expect(leftForPruned / 272).toBeLessThan(3);
    expect(after.treeBytes).toBe(before.treeBytes - 272 * 32);

    const verifiers = await regionVerifiers();
    for (const row of (await store.page({}, 400, 0)).filter((_, i) => i % 7 === 0)) {
      const answer = await store.proof(row.id);
      if (isIntegrityFailure(answer) || answer === null) throw new Error(`no proof of ${row.id}`);
      const { checkpoint, ...path } = answer;
      expect(proves(listedEvent(row), path, await openedCheckpoint(checkpoint, verifiers))).toBe(true);
    }
    // Consistency from a pruned size: from a multiple of 16, yes; from inside a pruned tile, no.
    expect(await store.consistency(16, null)).toMatchObject({ from: 16, to: 600 });
    expect(await store.consistency(17, null)).toEqual({ refused: "pruned", size: 600 });

    // Everything pruned (600 leaves: a tile boundary), then new events: the tree goes on, and proves them.
    expect(
      (await store.prune({ cutoff: `${YEAR + 1}-01-01T00:00:00.000Z`, legalHold: false, policyVersion: 0, limit: 1000 })).remaining,
    ).toBe(0);
    await seedAuditEvents(env.DB, { workspaceId, count: 20, from: `${YEAR}-02-01T00:00:00.000Z` });
    await forwardScope(storage, workspaceId);
    const [latest] = await store.page({}, 1, 0);
    const answer = await store.proof(latest!.id);
    if (isIntegrityFailure(answer) || answer === null) throw new Error("no proof after a full prune");
    expect(answer.index).toBe(619);
    const { checkpoint, ...path } = answer;
    expect(proves(listedEvent(latest!), path, await openedCheckpoint(checkpoint, verifiers))).toBe(true);
  });

  it("a legal hold stops a prune and leaves the log as it was", async () => {
    const { workspaceId, events, proof } = await provenTrail();
    const store = auditStoreOf(testStorage(), workspaceId, YEAR);
    const result = await store.prune({ cutoff: `${YEAR + 1}-01-01T00:00:00.000Z`, legalHold: true, policyVersion: 1, limit: 100 });
    expect(result).toEqual({ deleted: 0, held: true, remaining: 5 });
    expect(await store.stats()).toMatchObject({ leaves: 5, pruned: 0 });
    expect((await proof(events[0]!.id)).status).toBe(200);
  });

  it("a signing-key rotation: the new key signs only a tree that extends the old key's checkpoint, if the old key is kept", async () => {
    const { stub } = await provenTrail();
    const current = (await regionVerifiers())[0]!;
    const next = await generateKeyPair("localhost/audit");
    const nextSigner = (await parseSignerKey(next.signer)) as Signer;
    const nextVerifier = (await parseVerifierKey(next.verifier))!;
    await runInDurableObject(stub, async (_object, state) => {
      const log = new EventLog(drizzle(state.storage));
      // Without the retired key, the latest checkpoint is one no known key signed.
      expect(isIntegrityFailure(await log.checkpoint(nextSigner, [nextVerifier], new Date().toISOString(), 10))).toBe(true);
      const signed = await log.checkpoint(nextSigner, [nextVerifier, current], new Date().toISOString(), 10);
      expect(isIntegrityFailure(signed)).toBe(false);
    });
  });

  it("signs a checkpoint within ten minutes of a change, with no request asking", async () => {
    const { owner, workspaceId, stub, sql } = await provenTrail();
    expect((await createApiKey(owner.token, workspaceId, { name: "quiet" })).status).toBe(201);
    await forwardScope(testStorage(), workspaceId);
    const alarm = await runInDurableObject(stub, (_object, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm! - Date.now()).toBeLessThanOrEqual(CHECKPOINT_INTERVAL_MS);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await sql("select size from checkpoints order by size")).toEqual([{ size: 5 }, { size: 6 }]);
  });

  it("a store from before the log: its events, gaps closed, become the first leaves; a row that appears later does not", async () => {
    // A store as one from before the log leaves it: events with gaps in seq (a retraction, a prune), no leaf, no origin.
    const workspaceId = crypto.randomUUID();
    const stub = env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:${YEAR}`));
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const added = await runInDurableObject(stub, (_object, state) => {
      for (const [i, seq] of [3, 7, 8].entries()) {
        state.storage.sql.exec(
          `insert into audit_events (seq, id, workspace_id, service, action, resource_type, metadata, timestamp)
           values (?, ?, ?, 'platform', 'workspace.updated', 'workspace', ?, ?)`,
          seq,
          ids[i]!,
          workspaceId,
          // The last one as a store from before the lone-surrogate refusal may hold it: no leaf could hash it.
          i === 2 ? '{"name":"bad \\ud83d"}' : null,
          `${YEAR}-03-0${i + 1}T00:00:00.000Z`,
        );
      }
      return state.storage.transactionSync(() => new EventLog(drizzle(state.storage)).catchUp());
    });
    expect(added).toBe(3);
    const rows = await runInDurableObject(stub, (_object, state) =>
      state.storage.sql.exec("select seq, id from audit_events order by seq").toArray(),
    );
    expect(rows).toEqual(ids.map((id, i) => ({ seq: i + 1, id })));
    const [{ metadata }] = (await runInDurableObject(stub, (_object, state) =>
      state.storage.sql.exec("select metadata from audit_events where seq = 3").toArray(),
    )) as [{ metadata: string }];
    expect(JSON.parse(metadata)).toEqual({ name: "bad \uFFFD" });
    // Its first proof names the log (the store learns its origin from the trail) and verifies.
    const store = auditStoreOf(testStorage(), workspaceId, YEAR);
    const answer = await store.proof(ids[1]!, `localhost/audit/${workspaceId}/${YEAR}`);
    if (isIntegrityFailure(answer) || answer === null) throw new Error("no proof of a caught-up event");
    const [row] = (await store.page({}, 3, 0)).filter((r) => r.id === ids[1]);
    const { checkpoint, ...path } = answer;
    expect(path).toMatchObject({ log: `localhost/audit/${workspaceId}/${YEAR}`, index: 1, size: 3 });
    expect(proves(listedEvent(row!), path, await openedCheckpoint(checkpoint, await regionVerifiers()))).toBe(true);
    // Once the log has an origin, a row put in behind its back is not caught up: the count check refuses it.
    const again = await runInDurableObject(stub, (_object, state) => {
      state.storage.sql.exec(
        `insert into audit_events (seq, id, workspace_id, service, action, resource_type, timestamp)
         values (4, ?, ?, 'platform', 'workspace.updated', 'workspace', ?)`,
        crypto.randomUUID(),
        workspaceId,
        `${YEAR}-03-04T00:00:00.000Z`,
      );
      return state.storage.transactionSync(() => new EventLog(drizzle(state.storage)).catchUp());
    });
    expect(again).toBe(0);
    expect(isIntegrityFailure(await store.proof(ids[0]!))).toBe(true);
  });
});
