// `npm run bench:export [-- --events 1000000 --sync 20000]`
//
// How fast an audit export is written, and what one step of the export's workflow holds in memory
// (docs/performance.md, "Exports of any size"). Runs the deployable bundle (scripts/artifact.mjs) with the
// benchmark's seeder beside it (bench/seeder/worker.js), which puts `events` events straight into one
// workspace's audit store of 2026. Then, on that same store:
//   - the baseline: the first `sync` events exported within one request (the synchronous path), twice, so
//     the two runs' ratio shows the method's own noise (the self-check);
//   - all `events` exported by the workflow (AUDIT_EXPORT_SYNC_MAX_EVENTS is `sync`), followed through
//     get-audit-export until done, while workerd's resident memory is sampled.
// Prints events per second of each, the ratio workflow / baseline, the parts written and the peak of
// workerd's resident memory above its level before the export (every part, page and proof any step held,
// with Miniflare's own D1 and R2 simulators in the same process). A benchmark, not a test: it prints numbers
// and fails only if it cannot run (or an export is not whole).
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { parseArgs } from "node:util";
import { buildArtifact, startArtifact } from "../scripts/artifact.mjs";
import { identitySigningKeys } from "../scripts/identity-keys.mjs";
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";
import { findWorkerd } from "./cpu.mjs";
import { seederWorker } from "./scenarios.mjs";

const { values: options } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    sync: { type: "string", default: "20000" },
  },
});
const EVENTS = Number(options.events);
const SYNC = Math.min(Number(options.sync), EVENTS);
const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "export-bench-admin-token-0123456789abcdef";
/** The host of the environment's PUBLIC_URL: the seeded store's log is named by it, as the project names it. */
const LOG_HOST = "us-east-1.platform-api.invalid";
/** Events per seeder request (bench/scenarios.mjs seeds the same way). */
const SEED_SLICE = 100_000;
const START = Date.UTC(2026, 0, 1);
const MIB = 1024 * 1024;

/** Resident memory of a process, in bytes (Linux). */
const residentBytes = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;

const { signer } = await generateKeyPair("bench/audit");
const seeder = seederWorker();
const worker = await startArtifact({
  outdir: await buildArtifact(ENVIRONMENT),
  environment: ENVIRONMENT,
  secrets: {
    ADMIN_TOKEN,
    AUDIT_SIGNING_KEY: signer,
    AUDIT_EXPORT_SIGNING_KEY: "export-bench-link-signing-key-0123456789abcdef",
    IDENTITY_SIGNING_KEYS: await identitySigningKeys(),
    AUDIT_EXPORT_SYNC_MAX_EVENTS: String(SYNC),
  },
  companions: [seeder],
  assets: false,
});

try {
  const base = (await worker.directUrl()).href.replace(/\/$/, "");
  const workerd = findWorkerd();
  // node:http rather than fetch: fetch gives up on an answer after 300 s, and locally a create that starts a
  // workflow is answered only once the workflow has finished (docs/performance.md, "Exports of any size").
  const call = (method, path, token, body) =>
    new Promise((resolve, reject) => {
      const payload = body ? JSON.stringify(body) : undefined;
      const headers = { authorization: `Bearer ${token}`, ...(payload ? { "content-type": "application/json" } : {}) };
      const req = request(`${base}${path}`, { method, headers }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () =>
          res.statusCode < 300
            ? resolve(JSON.parse(text))
            : reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`)),
        );
      });
      req.on("error", reject);
      req.end(payload);
    });

  const { token } = await call("POST", "/admin/identities", ADMIN_TOKEN, { email: "export-bench@example.com" });
  const workspace = await call("POST", "/v1/me/workspaces", token, {
    slug: `export-bench-${Date.now()}`,
    name: "Export bench",
    environment: "staging",
  });
  const seededAt = performance.now();
  const origin = `${LOG_HOST}/audit/${workspace.id}/2026`;
  const seederUrl = (await worker.directUrl(seeder.name)).href;
  for (let first = 0; first < EVENTS; first += SEED_SLICE) {
    const count = Math.min(SEED_SLICE, EVENTS - first);
    const res = await fetch(seederUrl, { method: "POST", body: JSON.stringify({ workspaceId: workspace.id, first, count, origin }) });
    if ((await res.json()).stored !== count) throw new Error("seeding: the store did not take every event");
  }
  const db = await worker.mf.getD1Database("DB", "artifact");
  await db.prepare("INSERT OR IGNORE INTO audit_store_years (scope, year) VALUES (?1, 2026)").bind(workspace.id).run();
  console.log(`seeded ${EVENTS.toLocaleString("en-US")} events into one store in ${((performance.now() - seededAt) / 1000).toFixed(0)} s`);

  /** Events of the seeded range (the seeder's event i is at second i of 2026), date_to inclusive. */
  const rangeOf = (count) => ({
    date_from: new Date(START).toISOString(),
    date_to: new Date(START + (count - 1) * 1000).toISOString(),
    action: "workspace.updated",
  });

  const syncRates = [];
  for (let run = 0; run < 2; run++) {
    const startedAt = performance.now();
    const done = await call("POST", `/v1/${workspace.id}/audit/export`, token, rangeOf(SYNC));
    const seconds = (performance.now() - startedAt) / 1000;
    if (done.status !== "done" || done.row_count !== SYNC) throw new Error(`the synchronous export holds ${done.row_count} events`);
    syncRates.push(SYNC / seconds);
    console.log(`within one request: ${SYNC.toLocaleString("en-US")} events in ${seconds.toFixed(1)} s`);
  }

  const idle = workerd ? residentBytes(workerd) : null;
  let peak = idle ?? 0;
  const sampler = setInterval(() => {
    if (workerd) peak = Math.max(peak, residentBytes(workerd));
  }, 100);
  const startedAt = performance.now();
  // Locally the answer comes once the workflow has finished (deployed, at once): the time is request to done.
  const created = await call("POST", `/v1/${workspace.id}/audit/export`, token, rangeOf(EVENTS));
  if (EVENTS > SYNC && created.status !== "pending") throw new Error(`expected a pending export, got ${created.status}`);
  let item;
  for (;;) {
    item = await call("GET", `/v1/${workspace.id}/audit/exports/${created.export_id}`, token);
    if (item.status === "done" || item.status === "failed") break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const seconds = (performance.now() - startedAt) / 1000;
  clearInterval(sampler);
  if (item.status !== "done" || item.row_count !== EVENTS)
    throw new Error(`the export ended ${item.status}: ${item.failure ?? item.row_count}`);
  const workflowRate = EVENTS / seconds;
  const partBytes = 5 * MIB; // partBytesFor() of any export up to ten million events
  console.log(
    `by the workflow: ${EVENTS.toLocaleString("en-US")} events, ${(item.size / MIB).toFixed(0)} MiB in ` +
      `${Math.ceil(item.size / partBytes)} parts, in ${seconds.toFixed(0)} s`,
  );
  const rate = (value) => `${Math.round(value).toLocaleString("en-US")} events/s`;
  console.log("");
  console.log(`baseline (within one request), run 1 / run 2: ${rate(syncRates[0])} / ${rate(syncRates[1])}`);
  console.log(`  self-check (run 2 / run 1): ${(syncRates[1] / syncRates[0]).toFixed(2)}`);
  console.log(`workflow: ${rate(workflowRate)}`);
  console.log(`  ratio workflow / baseline (mean of the two runs): ${(workflowRate / ((syncRates[0] + syncRates[1]) / 2)).toFixed(2)}`);
  if (idle !== null) {
    console.log(
      `workerd resident memory: ${(idle / MIB).toFixed(0)} MiB before the export, peak ${((peak - idle) / MIB).toFixed(0)} MiB above it`,
    );
  }
} finally {
  await worker.dispose();
}
