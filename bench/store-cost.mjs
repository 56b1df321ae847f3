// `npm run bench:store [-- --rounds 5 --stores 300 --appends 1500]`
//
// What an audited write costs in its audit store, apart from the rest of its request (whose D1, KV and
// HTTP work moves create-my-workspace's CPU per request by ±20% from one run to the next, hiding a few
// percent): workerd's CPU per append of one event, as a forward makes it, to a store made for it (a new
// workspace's first event: the Durable Object is created, its SQLite migrated) and to a store that holds
// events already. Runs the deployable bundle (scripts/artifact.mjs) with the benchmark's seeder beside it
// (bench/seeder/worker.js), which makes the calls inside workerd. Rounds alternate the two and the medians
// are printed; run it on two commits to compare them (docs/performance.md, "The verifiable audit log").
import { parseArgs } from "node:util";
import { buildArtifact, startArtifact } from "../scripts/artifact.mjs";
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";
import { cpuMs, findWorkerd } from "./cpu.mjs";
import { seederWorker } from "./scenarios.mjs";

const { values: options } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    stores: { type: "string", default: "300" },
    appends: { type: "string", default: "1500" },
  },
});
const ROUNDS = Number(options.rounds);
const STORES = Number(options.stores);
const APPENDS = Number(options.appends);
const ENVIRONMENT = "us-east-1";
const ORIGIN = "us-east-1.platform-api.invalid/audit";

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const { signer } = await generateKeyPair("bench/audit");
const seeder = seederWorker();
const worker = await startArtifact({
  outdir: await buildArtifact(ENVIRONMENT),
  environment: ENVIRONMENT,
  secrets: { ADMIN_TOKEN: "store-cost-admin-token-0123456789abcdef", AUDIT_SIGNING_KEY: signer },
  companions: [seeder],
  assets: false,
});
try {
  const base = await worker.directUrl(seeder.name);
  const workerd = findWorkerd();
  if (workerd === null) throw new Error("no workerd child found in /proc: CPU cannot be measured here");
  const post = async (path, body) => {
    const res = await fetch(new URL(path, base), { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`seeder ${path} answered ${res.status}: ${await res.text()}`);
    return res.json();
  };
  /** workerd's CPU (µs) per event `run` stores, checking it stored `expected`. */
  async function cpuPerEvent(run, expected) {
    const before = cpuMs(workerd);
    const { stored } = await run();
    if (stored !== expected) throw new Error(`stored ${stored} events, not ${expected}`);
    return ((cpuMs(workerd) - before) * 1000) / expected;
  }
  const existing = "store-cost-existing";
  await post("/", { workspaceId: existing, count: 1000, origin: `${ORIGIN}/${existing}/2026` }); // a store with events already
  let next = 1000;
  const fresh = [];
  const appended = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const prefix = `store-cost-${round}`;
    const freshCost = await cpuPerEvent(() => post("/new-stores", { prefix, count: STORES, origin: `${ORIGIN}/${prefix}` }), STORES);
    const appendCost = await cpuPerEvent(
      () => post("/", { workspaceId: existing, first: next, count: APPENDS, perCall: 1, origin: `${ORIGIN}/${existing}/2026` }),
      APPENDS,
    );
    next += APPENDS;
    // the first round warms the isolate up and is not counted
    if (round === 0) continue;
    fresh.push(freshCost);
    appended.push(appendCost);
    console.log(`round ${round}: a new store's first event ${freshCost.toFixed(0)} µs, an event appended ${appendCost.toFixed(0)} µs`);
  }
  console.log(
    `median of ${ROUNDS} rounds, workerd CPU per event: a new store's first event ${median(fresh).toFixed(0)} µs ` +
      `(${STORES} stores a round), an event appended to a store of 1,000+ events ${median(appended).toFixed(0)} µs (${APPENDS} a round)`,
  );
} finally {
  await worker.dispose();
}
