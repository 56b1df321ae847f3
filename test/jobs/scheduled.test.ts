/**
 * The hourly scheduled run: the outbox sweep, audit retention per workspace (its policy's audit_log_days,
 * nothing under legal hold, archived workspaces alike, bounded batches, the operator log by the default),
 * and the deletion of exports older than 7 days: thousands a run, objects before rows, safe to fail or overlap.
 */
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { seedAuditEvents } from "../../scripts/seed-audit-events.mjs";
import { seedAuditExports } from "../../scripts/seed-audit-exports.mjs";
import worker from "../../src";
import { DAY_MS } from "../../src/core/time";
import { runScheduled } from "../../src/jobs/scheduled";
import { auditEvent, insertEvent } from "../../src/storage/audit-events/record";
import { deleteExpiredExports, EXPORTS_DELETED_PER_RUN } from "../../src/storage/audit-exports";
import { auditStoreOf, yearOf } from "../../src/storage/audit-store/outbox";
import { dbFor } from "../../src/storage/d1/client";
import type { AuditExport, AuditExportList } from "../harness/bodies";
import { call } from "../harness/call";
import { ownedWorkspace } from "../harness/seed";
import {
  exportObjects,
  exportRows,
  faultyAuditStore,
  faultyR2,
  interceptD1,
  interceptR2,
  outboxRows,
  storedEvents,
  testStorage,
} from "../harness/storage";

const NOW = Date.now();
const ago = (days: number) => new Date(NOW - days * DAY_MS).toISOString();
/** Writes that touch tens of thousands of rows: slow by nature, and slower still on a busy machine. */
const SLOW_TEST_MS = 120_000;

/** A workspace with its policy set, and old and recent events in its outbox. */
async function workspaceWithTrail(policy: Record<string, unknown> | null) {
  const { owner, workspaceId, slug } = await ownedWorkspace();
  if (policy) {
    const res = await call("PUT", `/v1/${workspaceId}/settings/retention`, { token: owner.token, body: policy });
    expect(res.status, res.text).toBe(200);
  }
  await seedAuditEvents(env.DB, { workspaceId, count: 2, from: ago(3000) });
  await seedAuditEvents(env.DB, { workspaceId, count: 3, from: ago(400) });
  await seedAuditEvents(env.DB, { workspaceId, count: 1, from: ago(10) });
  return { owner, workspaceId, slug };
}

const oldestKept = async (workspaceId: string) => (await storedEvents(workspaceId, { action: "workspace.updated" })).length;

describe("audit retention per workspace", () => {
  it(
    "deletes each workspace's events older than its audit_log_days, nothing under legal hold, archived ones alike",
    async () => {
      const short = await workspaceWithTrail({ audit_log_days: 365 });
      const standard = await workspaceWithTrail(null);
      const held = await workspaceWithTrail({ audit_log_days: 365, legal_hold: true, legal_hold_reason: "Case 7" });
      const archived = await workspaceWithTrail({ audit_log_days: 365 });
      const res = await call("POST", `/v1/workspaces/${archived.workspaceId}/archive`, {
        token: archived.owner.token,
        body: { slug: archived.slug },
      });
      expect(res.status, res.text).toBe(200);

      const run = await runScheduled(env, NOW);
      for (const { workspaceId } of [short, standard, held, archived]) expect(await outboxRows(workspaceId)).toBe(0);
      expect(run?.retention).toMatchObject({ failed: 0, held: 1, events: 5 + 2 + 5 });
      expect(await oldestKept(short.workspaceId)).toBe(1);
      expect(await oldestKept(standard.workspaceId)).toBe(4); // 2190 days: the 3000-day-old two go
      // A past year retention emptied leaves the directory of yearly stores; a held one stays.
      const years = async (id: string) =>
        (
          await env.DB.prepare("select year from audit_store_years where scope = ? order by year").bind(id).all<{ year: number }>()
        ).results.map((r) => r.year);
      expect(await years(short.workspaceId)).not.toContain(yearOf(ago(3000)));
      expect(await years(held.workspaceId)).toContain(yearOf(ago(3000)));
      expect(await oldestKept(held.workspaceId)).toBe(6);
      expect(await oldestKept(archived.workspaceId)).toBe(1);
      // What the workspaces' own writes recorded (create, policy, archive) is recent: kept.
      expect((await storedEvents(archived.workspaceId)).map((e) => e.action)).toEqual(
        expect.arrayContaining(["workspace.created", "workspace.retention_policy_updated", "workspace.archived"]),
      );

      // Lifting the hold lets the next run delete what the policy no longer keeps.
      const lifted = await call("PUT", `/v1/${held.workspaceId}/settings/retention`, {
        token: held.owner.token,
        body: { legal_hold: false },
      });
      expect(lifted.status).toBe(200);
      await runScheduled(env, NOW);
      expect(await oldestKept(held.workspaceId)).toBe(1);
    },
    SLOW_TEST_MS,
  );

  it(
    "works in bounded batches through the cron trigger: a backlog is cleared over several runs",
    async () => {
      const { workspaceId } = await ownedWorkspace();
      await seedAuditEvents(env.DB, { workspaceId, count: 6000, from: ago(2500) });
      const runCron = async () => {
        const ctx = createExecutionContext();
        await worker.scheduled(createScheduledController({ scheduledTime: NOW, cron: "17 * * * *" }), env, ctx);
        await waitOnExecutionContext(ctx);
      };
      await runCron();
      expect(await outboxRows(workspaceId)).toBe(0);
      expect(await oldestKept(workspaceId)).toBe(1000); // 5,000 per workspace per run
      await runCron();
      expect(await oldestKept(workspaceId)).toBe(0);
      expect((await storedEvents(workspaceId)).map((e) => e.action)).toEqual(["workspace.created"]);
    },
    SLOW_TEST_MS,
  );

  it("lets no prune pass a legal hold the store was told of, whatever policy version the prune read", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId, count: 3, from: ago(3000) });
    await storedEvents(workspaceId); // forwarded
    const store = auditStoreOf(testStorage(), workspaceId, yearOf(ago(3000)));
    await store.setLegalHold(true, 4);
    // A sweep that read the policy before the hold was placed:
    const stale = await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 3, limit: 100 });
    expect(stale).toEqual({ deleted: 0, held: true, remaining: 3 });
    // A lift of the same version is no lift (a D1 restore can hand a version out again):
    const same = await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 4, limit: 100 });
    expect(same).toEqual({ deleted: 0, held: true, remaining: 3 });
    // One that read the policy after the hold was lifted:
    const fresh = await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 5, limit: 100 });
    expect(fresh).toEqual({ deleted: 3, held: false, remaining: 0 });
  });

  it("stops at a hold from either side: a prune that read a hold is not overruled by a newer lift the store knows", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId, count: 2, from: ago(3000) });
    await storedEvents(workspaceId);
    const store = auditStoreOf(testStorage(), workspaceId, yearOf(ago(3000)));
    await store.setLegalHold(false, 7);
    const held = await store.prune({ cutoff: ago(2190), legalHold: true, policyVersion: 6, limit: 100 });
    expect(held).toEqual({ deleted: 0, held: true, remaining: 2 });
    // The store's newer lift stands: the next prune that reads no hold deletes.
    expect(await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 7, limit: 100 })).toMatchObject({ deleted: 2 });
  });

  it("keeps a hold a store recorded before versions were counters until a policy change lifts it", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId, count: 2, from: ago(3000) });
    await storedEvents(workspaceId);
    const store = auditStoreOf(testStorage(), workspaceId, yearOf(ago(3000)));
    await runInDurableObject(store as unknown as DurableObjectStub, (_object, state) =>
      state.storage.put("legal_hold", { held: true, version: "2027-01-01T00:00:00.000Z" }),
    );
    expect(await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 0, limit: 100 })).toMatchObject({ held: true });
    expect(await store.prune({ cutoff: ago(2190), legalHold: false, policyVersion: 1, limit: 100 })).toMatchObject({ deleted: 2 });
  });

  it("retries a workspace whose store failed at the next run, and never deletes from the outbox what was not stored", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId, count: 2, from: ago(3000) });
    const down = faultyAuditStore();
    const failed = await runScheduled({ ...env, AUDIT_STORE: down.binding }, NOW);
    expect(failed?.forwardFailures).toBeGreaterThan(0);
    expect(failed?.retention.failed).toBeGreaterThan(0);
    expect(await outboxRows(workspaceId)).toBe(2);
    const recovered = await runScheduled(env, NOW);
    expect(recovered?.retention.failed).toBe(0);
    expect(await oldestKept(workspaceId)).toBe(0);
  });

  it("keeps the operator log for AUDIT_RETENTION_DAYS (2190 unless set)", async () => {
    const actor = { entityId: null, credentialId: null, ipAddress: null, userAgent: null };
    const entry = { workspaceId: null, action: "identity.created", resourceType: "identity", resourceId: crypto.randomUUID() } as const;
    const old = auditEvent(actor, { ...entry, resourceName: "old" }, ago(2200));
    const recent = auditEvent(actor, { ...entry, resourceName: "recent" }, ago(2000));
    for (const event of [old, recent]) await insertEvent(dbFor(env.DB), event);
    await runScheduled(env, NOW);
    const ids = (await storedEvents(null)).map((e) => e.id);
    expect(ids).toContain(recent.id);
    expect(ids).not.toContain(old.id);
  });
});

describe("exports", () => {
  it("deletes exports older than 7 days, object and row, and keeps the rest", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const range = { date_from: "2026-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" };
    const exportNow = () => call<AuditExport>("POST", `/v1/${workspaceId}/audit/export`, { token: owner.token, body: range });
    const old = (await exportNow()).body;
    const recent = (await exportNow()).body;
    await env.DB.prepare("update audit_exports set created_at = ?, finished_at = ? where id = ?").bind(ago(8), ago(8), old.export_id).run();
    // Asked for 8 days ago: one that finished a day ago, and one still being written, are not expired.
    const longRunning = (await exportNow()).body;
    const unfinished = (await exportNow()).body;
    await env.DB.prepare("update audit_exports set created_at = ?, finished_at = ? where id = ?")
      .bind(ago(8), ago(1), longRunning.export_id)
      .run();
    await env.DB.prepare("update audit_exports set created_at = ?, finished_at = null, status = 'running' where id = ?")
      .bind(ago(8), unfinished.export_id)
      .run();

    const run = await runScheduled(env, NOW);
    expect(run?.exports).toBe(1);
    const kept = (await env.DB.prepare("select id from audit_exports where workspace_id = ?").bind(workspaceId).all<{ id: string }>())
      .results;
    expect(kept.map((row) => row.id).sort()).toEqual([recent.export_id, longRunning.export_id, unfinished.export_id].sort());
    expect(await env.AUDIT_EXPORTS.head(old.s3_key)).toBeNull();
    expect(await env.AUDIT_EXPORTS.head(recent.s3_key)).not.toBeNull();
    const listed = await call<AuditExportList>("GET", `/v1/${workspaceId}/audit/exports`, { token: owner.token });
    expect(listed.body.exports.map((e) => e.key)).toEqual([unfinished.s3_key, longRunning.s3_key, recent.s3_key]);
  });

  /** A workspace holding `expired` exports created 8 days ago and `kept` created 6 days ago: their object keys. */
  async function workspaceWithExports(expired: number, kept = 0) {
    const { owner, workspaceId } = await ownedWorkspace();
    const old = await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: expired, createdAt: ago(8) });
    const recent = await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: kept, createdAt: ago(6) });
    return { owner, workspaceId, old, recent };
  }

  it(
    "deletes 2,500 expired exports, objects and rows, in one run (the hourly run deleted 90 before), and keeps the rest",
    async () => {
      const { workspaceId, recent } = await workspaceWithExports(2500, 3);
      const run = await runScheduled(env, NOW);
      expect(run?.exports).toBe(2500);
      expect(await exportRows(workspaceId)).toBe(3);
      expect(await exportObjects(workspaceId)).toEqual(recent.sort());
    },
    SLOW_TEST_MS,
  );

  it(
    `deletes at most ${EXPORTS_DELETED_PER_RUN.toLocaleString("en")} a run, the oldest first; the next run takes the rest`,
    async () => {
      const { workspaceId } = await ownedWorkspace();
      const oldest = await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: 300, createdAt: ago(9) });
      const rest = await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: EXPORTS_DELETED_PER_RUN, createdAt: ago(8) });
      expect((await runScheduled(env, NOW))?.exports).toBe(EXPORTS_DELETED_PER_RUN);
      const left = await exportObjects(workspaceId);
      expect(left).toHaveLength(300);
      expect(oldest.some((key) => left.includes(key))).toBe(false);
      expect((await runScheduled(env, NOW))?.exports).toBe(300);
      expect([await exportRows(workspaceId), await exportObjects(workspaceId)]).toEqual([0, []]);
      expect(rest).toHaveLength(EXPORTS_DELETED_PER_RUN);
    },
    SLOW_TEST_MS,
  );

  it("deletes no row while R2 refuses the delete, goes on with the rest of the run, and the next run deletes both", async () => {
    const { workspaceId, old } = await workspaceWithExports(1200);
    const down = faultyR2(["delete"]);
    const failed = await runScheduled({ ...env, AUDIT_EXPORTS: down.bucket }, NOW);
    expect(failed).toMatchObject({ exports: 0, idempotencyRecords: expect.any(Number) }); // the run went on
    expect(down.calls.delete).toBe(1); // the first failure ends the cleanup
    expect([await exportRows(workspaceId), (await exportObjects(workspaceId)).length]).toEqual([1200, 1200]);

    // The first round (1,000) goes, the second round's R2 delete fails: its 200 rows and objects stay.
    const flaky = faultyR2(["delete"], { after: 1 });
    expect((await runScheduled({ ...env, AUDIT_EXPORTS: flaky.bucket }, NOW))?.exports).toBe(1000);
    expect([await exportRows(workspaceId), (await exportObjects(workspaceId)).length]).toEqual([200, 200]);

    expect((await runScheduled(env, NOW))?.exports).toBe(200);
    expect([await exportRows(workspaceId), await exportObjects(workspaceId)]).toEqual([0, []]);
    expect(old).toHaveLength(1200);
  });

  it("leaves the rows of objects it deleted when D1's delete fails, unlisted, and the next run deletes them", async () => {
    const { owner, workspaceId } = await workspaceWithExports(5);
    const DB = interceptD1(async (query, proceed) => {
      if (/^delete from "audit_exports"/.test(query)) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    });
    expect((await runScheduled({ ...env, DB }, NOW))?.exports).toBe(0);
    expect([await exportRows(workspaceId), await exportObjects(workspaceId)]).toEqual([5, []]);
    const listed = await call<AuditExportList>("GET", `/v1/${workspaceId}/audit/exports`, { token: owner.token });
    expect(listed.body.exports).toEqual([]);
    expect((await runScheduled(env, NOW))?.exports).toBe(5);
    expect(await exportRows(workspaceId)).toBe(0);
  });

  it("two runs at once: one runs whole inside the other's first R2 delete; each export is deleted once, none left", async () => {
    const { workspaceId } = await workspaceWithExports(1500);
    let inner: Promise<number> | undefined;
    const bucket = interceptR2(async (method, proceed) => {
      if (method === "delete" && !inner) {
        inner = deleteExpiredExports(testStorage(), env.AUDIT_EXPORTS, NOW);
        await inner;
      }
      return proceed();
    });
    const outer = await deleteExpiredExports(testStorage(), bucket, NOW);
    expect([outer, await inner]).toEqual([0, 1500]);
    expect([await exportRows(workspaceId), await exportObjects(workspaceId)]).toEqual([0, []]);
  });
});
