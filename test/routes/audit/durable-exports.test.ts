/**
 * Exports too large for one request (docs/decisions/0041-exports-of-any-size.md): answered at once and
 * written by the AUDIT_EXPORT_WORKFLOW Workflow (the real engine, in workerd), across years, in parts,
 * with progress; one at a time per workspace; resumed by the hourly run when its start was lost; and each
 * step run again after a fault (store read, part upload, progress record, completion) without a line
 * twice or missing. The synchronous size is lowered per request (AUDIT_EXPORT_SYNC_MAX_EVENTS) so a few
 * thousand events take the workflow's path.
 */
import { introspectWorkflowInstance } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { NonRetryableError } from "cloudflare:workflows";
import { describe, expect, it } from "vitest";
import { seedAuditEvents } from "../../../scripts/seed-audit-events.mjs";
import { runScheduled } from "../../../src/jobs/scheduled";
import { MIN_PART_BYTES } from "../../../src/storage/audit-export-file";
import {
  completeExport,
  type ExportCursor,
  type ExportJob,
  FIRST_CURSOR,
  failExport,
  isWritten,
  MAX_EXPORT_EVENTS,
  MAX_PART_BYTES,
  partBytesFor,
  planExport,
  writeExportPart,
} from "../../../src/storage/audit-export-job";
import { expectVerifiedExport, parseExport, regionVerifiers } from "../../harness/audit-log";
import type { AuditExport, AuditExportList } from "../../harness/bodies";
import { call, type ErrorBody, sleep, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { type MintedIdentity, ownedWorkspace } from "../../harness/seed";
import { faultyAuditStore, interceptD1, interceptR2, testStorage } from "../../harness/storage";

type ExportItem = AuditExportList["exports"][number];

/** Slow by nature: thousands of events seeded, proven and written in parts of 5 MiB. */
const SLOW_TEST_MS = 180_000;
/** Small enough that a few thousand events are "too large for one request". */
const SMALL_SYNC: Partial<TestEnv> = { AUDIT_EXPORT_SYNC_MAX_EVENTS: "100" };
/** Two years: the export crosses from one year's log into the next. */
const YEARS = { date_from: "2025-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" };

type Workspace = { owner: MintedIdentity; workspaceId: string };

/**
 * A workspace with `count` events one a second from 2025-12-31T23:30:00Z (so across the new year), each
 * line about `nameLength` bytes longer.
 */
async function workspaceWithEvents(count: number, nameLength = 16): Promise<Workspace> {
  const workspace = await ownedWorkspace();
  await seedAuditEvents(env.DB, { workspaceId: workspace.workspaceId, count, from: "2025-12-31T23:30:00.000Z", nameLength });
  return workspace;
}

const createExport = <Body = AuditExport>({ owner, workspaceId }: Workspace, bindings: Partial<TestEnv> = SMALL_SYNC) =>
  call<Body>("POST", `/v1/${workspaceId}/audit/export`, { token: owner.token, body: YEARS, env: bindings });

/** A workflow binding whose start fails, as an unreachable engine's: the export stays pending until the hourly run starts it. */
const LOST_START: Partial<TestEnv> = {
  ...SMALL_SYNC,
  AUDIT_EXPORT_WORKFLOW: { create: async () => Promise.reject(new Error("workflow engine unreachable")) } as unknown as Workflow,
};

/** A pending export of the workspace whose workflow never started, and the job its workflow is given (the test runs its steps). */
async function pendingExport(workspace: Workspace) {
  const created = await createExport(workspace, LOST_START);
  expect(created.body.status).toBe("pending");
  const job: ExportJob = {
    workspaceId: workspace.workspaceId,
    exportId: created.body.export_id,
    objectKey: created.body.s3_key,
    filters: { ...YEARS, action: null, service: null, phi_only: false },
    rowCount: created.body.row_count,
  };
  return { created, job };
}

/** Storage whose D1 refuses to update an export's row (its progress, done or failed record). */
const exportRecordsDown = () =>
  testStorage({
    DB: interceptD1(async (sql, proceed) => {
      if (/^update "audit_exports"/i.test(sql)) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    }),
  });

const getExport = <Body = ExportItem>({ owner, workspaceId }: Workspace, exportId: string) =>
  call<Body>("GET", `/v1/${workspaceId}/audit/exports/${exportId}`, { token: owner.token });

async function download(url: string) {
  const { pathname, search } = new URL(url);
  return call("GET", `${pathname}${search}`);
}

/** Polls get-audit-export until the export has finished, as a client would. */
async function finished(workspace: Workspace, exportId: string): Promise<ExportItem> {
  const deadline = Date.now() + SLOW_TEST_MS - 10_000;
  for (;;) {
    const res = await getExport(workspace, exportId);
    expect(res.status, res.text).toBe(200);
    if (res.body.status === "done" || res.body.status === "failed") return res.body;
    if (Date.now() > deadline) throw new Error(`export ${exportId} still ${res.body.status} at ${res.body.progress}%`);
    await sleep(250);
  }
}

/** The file's events, each proven against the file's signed checkpoints; and the checkpoints' log origins. */
async function verifiedEvents(text: string) {
  const file = parseExport(text);
  const checkpoints = await expectVerifiedExport(file, await regionVerifiers());
  // biome-ignore lint/suspicious/noExplicitAny: the tests read fields of the parsed events freely
  return { events: file.events as any[], logs: [...checkpoints.keys()] };
}

/** The seeded events (and the workspace's own), oldest first, each once. */
function expectEveryEventOnce(events: { id: string; timestamp: string }[], count: number) {
  expect(events).toHaveLength(count);
  expect(new Set(events.map((e) => e.id)).size).toBe(count);
  const timestamps = events.map((e) => e.timestamp);
  expect(timestamps).toEqual([...timestamps].sort());
}

describe("an export too large for one request", () => {
  it(
    "is answered pending at once, runs to done with its progress shown, and its two-year file verifies",
    async () => {
      const count = 4_000;
      const workspace = await workspaceWithEvents(count, 1_500); // about 7 MiB: two parts, a line split between them
      const res = await createExport(workspace);
      expect(res.status, res.text).toBe(200);
      await expectConformant("POST", "/v1/{workspace_id}/audit/export", res);
      expect(res.body).toMatchObject({ status: "pending", row_count: count + 1, s3_key: expect.stringContaining(res.body.export_id) });

      // The file holds what the logs held when the workflow began: its own audit.export_created event too.
      const inFile = count + 2;
      const done = await finished(workspace, res.body.export_id);
      expect(done).toMatchObject({ status: "done", progress: 100, events_written: inFile, row_count: inFile, failure: null });
      expect(done.download_url).toEqual(expect.stringContaining("/downloads/audit-exports/"));
      expect(done.last_modified! >= done.created_at).toBe(true);
      const file = await download(done.download_url!);
      expect(file.status).toBe(200);
      expect(done.size).toBe(new TextEncoder().encode(file.text).length);
      expect(done.size).toBeGreaterThan(MIN_PART_BYTES);
      const { events, logs } = await verifiedEvents(file.text);
      expectEveryEventOnce(events, inFile);
      expect(logs.map((log) => log.slice(-4)).sort()).toEqual(["2025", "2026"]);

      // Listed as it is got, with the same link's file; the export's creation is in the trail.
      const listed = await call<AuditExportList>("GET", `/v1/${workspace.workspaceId}/audit/exports`, { token: workspace.owner.token });
      await expectConformant("GET", "/v1/{workspace_id}/audit/exports", listed);
      expect(listed.body.exports[0]).toMatchObject({ export_id: res.body.export_id, status: "done", size: done.size });
      const created = await call<{ events: { metadata: Record<string, unknown> }[] }>(
        "GET",
        `/v1/${workspace.workspaceId}/audit?action=audit.export_created`,
        { token: workspace.owner.token },
      );
      expect(created.body.events[0]?.metadata).toMatchObject({ row_count: count + 1, status: "pending" });
    },
    SLOW_TEST_MS,
  );

  it(
    "whose workflow's start was lost stays pending (its link 409, a second one 409) until the hourly run starts it",
    async () => {
      const workspace = await workspaceWithEvents(300);
      const res = await createExport(workspace, LOST_START);
      expect(res.status, res.text).toBe(200);
      expect(res.body.status).toBe("pending");

      const pending = await getExport(workspace, res.body.export_id);
      await expectConformant("GET", "/v1/{workspace_id}/audit/exports/{export_id}", pending);
      expect(pending.body).toMatchObject({ status: "pending", progress: 0, events_written: 0, download_url: null, last_modified: null });
      const early = await download(res.body.download_url);
      expect(early.status).toBe(409);
      expect((early.body as ErrorBody).error_code).toBe("export_in_progress");
      const second = await createExport<ErrorBody>(workspace);
      expect(second.status).toBe(409);
      expect(second.body.detail).toContain(res.body.export_id);
      // One written within its request is not held up by it.
      expect((await createExport(workspace, { AUDIT_EXPORT_SYNC_MAX_EVENTS: "100000" })).body.status).toBe("done");

      // Not before it had ten minutes to start; then started, and written.
      expect((await runScheduled(env))?.stalledExports).toEqual({ started: 0, failed: 0 });
      expect((await runScheduled(env, Date.now() + 11 * 60_000))?.stalledExports).toEqual({ started: 1, failed: 0 });
      const done = await finished(workspace, res.body.export_id);
      expect(done.status).toBe("done");
      const { events } = await verifiedEvents((await download(done.download_url!)).text);
      expectEveryEventOnce(events, 300 + 3); // and the workspace's creation, the first export's and its own

      expect((await download(res.body.download_url)).status).toBe(200); // the first link, within its hour, now serves it
    },
    SLOW_TEST_MS,
  );

  it(
    "whose step fails past its retries is marked failed, saying at which step, with no file; a new one may then start",
    async () => {
      const workspace = await workspaceWithEvents(300);
      const res = await createExport(workspace, LOST_START);
      // The engine's own fault injection: "part 1" fails as a step does once its retries are spent.
      const instance = await introspectWorkflowInstance(env.AUDIT_EXPORT_WORKFLOW, res.body.export_id);
      try {
        await instance.modify(async (m) => {
          await m.mockStepError({ name: "part 1" }, new NonRetryableError("R2 part upload failed"));
        });
        expect((await runScheduled(env, Date.now() + 11 * 60_000))?.stalledExports.started).toBeGreaterThanOrEqual(1);
        await instance.waitForStatus("complete");
      } finally {
        await instance.dispose();
      }

      const failed = await getExport(workspace, res.body.export_id);
      expect(failed.body).toMatchObject({ status: "failed", download_url: null, progress: 0 });
      expect(failed.body.failure).toBe(
        'The export stopped at its step "part 1": storage stayed unavailable through every retry. Create a new export to try again.',
      );
      expect(failed.body.last_modified).not.toBeNull();
      expect(await env.AUDIT_EXPORTS.head(res.body.s3_key)).toBeNull();
      const link = await download(res.body.download_url);
      expect([link.status, (link.body as ErrorBody).detail]).toEqual([404, expect.stringContaining('step "part 1"')]);
      expect((await createExport(workspace, LOST_START)).status).toBe(200);
    },
    SLOW_TEST_MS,
  );

  it("keeps no Idempotency-Key answer for a 409 export_in_progress, and lets polling reads past the write limit", async () => {
    const workspace = await workspaceWithEvents(300);
    const bindings = LOST_START;
    const first = await createExport(workspace, bindings);
    expect(first.body.status).toBe("pending");
    const retry = () =>
      call<AuditExport | ErrorBody>("POST", `/v1/${workspace.workspaceId}/audit/export`, {
        token: workspace.owner.token,
        body: YEARS,
        headers: { "Idempotency-Key": "export-after-the-other" },
        env: bindings,
      });
    expect((await retry()).status).toBe(409);
    // The other export ends: the same key now runs the create (its 409 was not kept for it).
    await env.DB.prepare("update audit_exports set status = 'done', finished_at = ? where id = ?")
      .bind(new Date().toISOString(), first.body.export_id)
      .run();
    const after = await retry();
    expect(after.status, after.text).toBe(200);
    expect(after.headers.get("idempotent-replayed")).toBeNull();

    // Polling an export (a GET under Audit.export) is not a write: a limit of 3 writes per 10 s does not stop it.
    const tight = { WORKSPACE_WRITE_RATE_LIMIT: env.TIGHT_RATE_LIMIT };
    for (let i = 0; i < 5; i++) {
      const polled = await call("GET", `/v1/${workspace.workspaceId}/audit/exports/${first.body.export_id}`, {
        token: workspace.owner.token,
        env: tight,
      });
      expect(polled.status).toBe(200);
    }
  });

  it("answers 404 for an export it does not have, and 422 for an id that is not one", async () => {
    const workspace = await ownedWorkspace();
    const missing = await getExport<ErrorBody>(workspace, crypto.randomUUID());
    expect([missing.status, missing.body.error_code]).toEqual([404, "not_found"]);
    expect((await getExport(workspace, "not-an-id")).status).toBe(422);
  });
});

describe("a failed export", () => {
  it("has no file, even when R2 completed the upload before the step that records it failed", async () => {
    const workspace = await workspaceWithEvents(300);
    const { created, job } = await pendingExport(workspace);
    const storage = testStorage();
    const plan = await planExport(storage, env.AUDIT_EXPORTS, job);
    const { part, next } = await writeExportPart(storage, env.AUDIT_EXPORTS, job, plan, FIRST_CURSOR);
    expect(isWritten(next)).toBe(true);
    const d1Down = exportRecordsDown();
    await expect(completeExport(d1Down, env.AUDIT_EXPORTS, job, plan, [part], next)).rejects.toThrow();
    expect(await env.AUDIT_EXPORTS.head(job.objectKey)).not.toBeNull(); // R2 completed it

    await failExport(storage, env.AUDIT_EXPORTS, job, plan.uploadId, 'The export stopped at its step "complete".');
    expect(await env.AUDIT_EXPORTS.head(job.objectKey)).toBeNull();
    expect((await getExport(workspace, job.exportId)).body).toMatchObject({ status: "failed", download_url: null });
    const link = await download(created.body.download_url);
    expect(link.status).toBe(404);
  });
});

describe("the part size", () => {
  it("is R2's 5 MiB up to ten million events, grows past it so 9,000 parts hold the export, and stops at 32 MiB", () => {
    expect(partBytesFor(10_000_000)).toBe(MIN_PART_BYTES);
    expect(partBytesFor(56_500_000)).toBe(13 * 1024 * 1024); // six years of 25,800 events a day (docs/operations/capacity.md)
    expect(partBytesFor(MAX_EXPORT_EVENTS)).toBe(MAX_PART_BYTES);
    expect(partBytesFor(MAX_EXPORT_EVENTS * 2)).toBe(MAX_PART_BYTES);
  });
});

describe("each step, failing once, runs again without a line twice or missing", () => {
  /** A step that fails on its first attempt (the fault given) and is run again as the engine would, with the real bindings. */
  async function twice<T>(faulty: () => Promise<T>, real: () => Promise<T>): Promise<T> {
    await expect(faulty()).rejects.toThrow();
    return real();
  }

  it(
    "a store read, a part upload (after R2 took it), a progress record and the completion (after R2 did it)",
    async () => {
      const count = 4_000;
      const workspace = await workspaceWithEvents(count, 1_500);
      // The row as create-audit-export records it, with the workflow's start lost (the steps are run here instead).
      const { job } = await pendingExport(workspace);
      const storage = testStorage();
      const bucket = env.AUDIT_EXPORTS;
      /** R2 that does the call, then fails as if the step died before it returned. */
      const diesAfter = (method: string) =>
        interceptR2(async (called, proceed) => {
          const result = await proceed();
          if (called === method) throw new Error(`step killed after ${method}`);
          return result;
        });
      const storeDown = testStorage({ AUDIT_STORE: faultyAuditStore(["provenEventsAfter"]).binding });
      const d1Down = exportRecordsDown();

      const plan = await twice(
        () => planExport(storage, diesAfter("createMultipartUpload"), job),
        () => planExport(storage, bucket, job),
      );
      const parts: R2UploadedPart[] = [];
      let cursor: ExportCursor = FIRST_CURSOR;
      const faults = [
        () => writeExportPart(storeDown, bucket, job, plan, cursor),
        () => writeExportPart(storage, diesAfter("uploadPart"), job, plan, cursor),
        () => writeExportPart(d1Down, bucket, job, plan, cursor),
      ];
      for (let step = 0; !isWritten(cursor); step++) {
        const from = cursor;
        const { part, next } = await twice(faults[step % faults.length]!, () => writeExportPart(storage, bucket, job, plan, from));
        parts.push(part);
        cursor = next;
      }
      expect(parts.length).toBeGreaterThanOrEqual(2);
      const inFile = count + 2; // the workspace's creation and the export's own
      expect((await getExport(workspace, job.exportId)).body).toMatchObject({ status: "running", events_written: inFile });
      await twice(
        () => completeExport(storage, diesAfter("complete"), job, plan, parts, cursor),
        () => completeExport(storage, bucket, job, plan, parts, cursor),
      );

      const done = await getExport(workspace, job.exportId);
      expect(done.body).toMatchObject({ status: "done", progress: 100, events_written: inFile });
      const { events } = await verifiedEvents((await download(done.body.download_url!)).text);
      expectEveryEventOnce(events, inFile);
    },
    SLOW_TEST_MS,
  );
});
