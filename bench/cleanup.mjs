// The export cleanup, measured (docs/performance.md, "Export cleanup"): the built bundle alone in a fresh
// Miniflare (its D1 migrated, nothing else in it), one workspace holding `count` exports created 8 days ago
// (rows in D1, objects in R2: scripts/seed-audit-exports.mjs), and the Worker's scheduled handler run as
// the hourly cron runs it, timed: once with nothing to delete (what the run's other steps cost), then
// again and again until nothing expired is left. Not a load test: a region runs one of these an hour.
import { join } from "node:path";
import { readD1Migrations } from "@cloudflare/vitest-plugin";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_readConfig } from "wrangler";
import { seedAuditExports } from "../scripts/seed-audit-exports.mjs";

const ROOT = join(import.meta.dirname, "..");
const WORKSPACE = "00000000-0000-4000-8000-00000000e0e0";
const DAY_MS = 86_400_000;
/** Unexpired exports a workspace may hold: EXPORTS_PER_WORKSPACE of src/storage/audit-exports.ts. */
const EXPORTS_PER_WORKSPACE = 100;

/** The workspace write limit of wrangler.toml's environment: writes a workspace may make an hour. */
function writesPerHour(environment) {
  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml"), env: environment });
  const { simple } = config.ratelimits.find((binding) => binding.name === "WORKSPACE_WRITE_RATE_LIMIT");
  return (simple.limit * 3600) / simple.period;
}

/** The seeded workspace's exports left: rows in D1, objects in R2 (listed a thousand at a time). */
async function left(db, bucket) {
  const rows = await db.prepare("SELECT count(*) AS n FROM audit_exports").first("n");
  let objects = 0;
  for (let cursor, page; !page || page.truncated; cursor = page.cursor) {
    page = await bucket.list({ prefix: `audit-exports/${WORKSPACE}/`, cursor });
    objects += page.objects.length;
  }
  return { rows, objects };
}

/**
 * Seeds `count` expired exports into a fresh Worker (`project`: Miniflare options for the built bundle) and
 * runs its scheduled handler until none is left. Returns the run with nothing to delete (`emptyMs`), each
 * run after the seeding (`deleted`, `ms`), what was left after each, and the creation ceilings it is
 * compared with (per workspace and hour: the export cap, and the write limit alone).
 */
export async function measureCleanup(project, { count, environment }) {
  const mf = new Miniflare(convertV4MiniflareOptions({ handleStructuredLogs: () => {}, workers: [{ ...project, assets: undefined }] }));
  try {
    const db = await mf.getD1Database("DB");
    for (const { queries } of await readD1Migrations(join(ROOT, "drizzle"))) {
      for (const query of queries) await db.prepare(query).run();
    }
    const bucket = await mf.getR2Bucket("AUDIT_EXPORTS");
    const worker = await mf.getWorker();
    /** One scheduled run, as the cron makes it (workerd answers once its waitUntil work is done). */
    const run = async () => {
      const started = performance.now();
      const { outcome } = await worker.scheduled({ cron: "17 * * * *" });
      if (outcome !== "ok") throw new Error(`the scheduled run ended with outcome ${outcome}`);
      return performance.now() - started;
    };
    await run(); // the isolate's first run compiles and warms what every run uses
    const emptyMs = await run();

    const now = new Date().toISOString();
    await db
      .prepare(
        `INSERT INTO workspaces (id, slug, name, environment, region, created_by_identity_id, created_at, updated_at)
         VALUES (?1, 'bench-exports', 'Bench exports', 'development', ?2, ?1, ?3, ?3)`,
      )
      .bind(WORKSPACE, environment, now)
      .run();
    const createdAt = new Date(Date.now() - 8 * DAY_MS).toISOString();
    const seeding = performance.now();
    await seedAuditExports(db, bucket, { workspaceId: WORKSPACE, count, createdAt });
    const seedMs = performance.now() - seeding;

    const runs = [];
    for (let remaining = count; remaining > 0 && runs.length < 10; ) {
      const ms = await run();
      const after = await left(db, bucket);
      runs.push({ deleted: remaining - after.rows, ms, left: after });
      if (after.rows !== after.objects) throw new Error(`a run left ${after.rows} rows beside ${after.objects} objects`);
      remaining = after.rows;
    }
    return { count, seedMs, emptyMs, runs, perWorkspaceHour: { cap: EXPORTS_PER_WORKSPACE, writeLimit: writesPerHour(environment) } };
  } finally {
    await mf.dispose();
  }
}

const thousands = (n) => Math.round(n).toLocaleString("en");

/** The measurement as the bench prints it: rate, runs, and the ratios against the creation ceilings. */
export function describeCleanup({ count, seedMs, emptyMs, runs, perWorkspaceHour }) {
  const [first] = runs;
  const rate = first.deleted / ((first.ms - emptyMs) / 1000);
  const runsText = runs.map((r) => `${thousands(r.deleted)} in ${thousands(r.ms)} ms`).join(", then ");
  return [
    `export cleanup: ${thousands(count)} exports created 8 days ago (seeded in ${thousands(seedMs / 1000)} s), deleted by ` +
      `${runs.length} scheduled run(s): ${runsText}; a run with nothing to delete took ${thousands(emptyMs)} ms`,
    `  rate: ${thousands(rate)} exports/s over the first run's own cost (its time less the empty run's); ` +
      `${thousands(first.deleted / (first.ms / 1000))} exports/s over the whole run`,
    `  per run, against what one workspace can create in an hour: ${thousands(first.deleted)} deleted = ` +
      `${(first.deleted / perWorkspaceHour.cap).toFixed(0)}× the export cap (${perWorkspaceHour.cap} unexpired at once), ` +
      `${(first.deleted / perWorkspaceHour.writeLimit).toFixed(2)}× the write limit alone ` +
      `(${thousands(perWorkspaceHour.writeLimit)} an hour); an hourly run keeps pace with ` +
      `${thousands(first.deleted / (perWorkspaceHour.cap / (7 * 24)))} workspaces each making its cap's worth every 7 days`,
  ].join("\n");
}
