// `npm run bench [-- --duration 3 --rounds 8 --connections 10 --cold-starts 5 --only <regexp> --verbose]`
//
// Builds the deployable bundle (`wrangler deploy --dry-run`, as scripts/artifact.mjs does for the tests),
// runs it in Miniflare beside the framework-free baseline (bench/baseline/worker.js) on the same workerd,
// with the same D1 and KV, and loads each scenario on both with autocannon in interleaved rounds. Prints
// req/s, p50, p99 and workerd's CPU per request (medians over the rounds), the ratios project / baseline,
// the targets, the bundle size and the cold start. A benchmark, not a test: it prints numbers and fails
// only if it cannot run.
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import autocannon from "autocannon";
import { artifactWorkerOptions, buildArtifact, startArtifact } from "../scripts/artifact.mjs";
import { coldStarts } from "./cold-start.mjs";
import { cpuMs, findWorkerd } from "./cpu.mjs";
import { answerOf, baselineWorker, expectedAnswer, requestOf, seedScenarios, startBenchIssuer } from "./scenarios.mjs";

const { values: options } = parseArgs({
  options: {
    duration: { type: "string", default: "3" },
    rounds: { type: "string", default: "8" },
    connections: { type: "string", default: "10" },
    "cold-starts": { type: "string", default: "5" },
    // only the scenarios whose name matches this regular expression (targets that need others are skipped)
    only: { type: "string", default: "" },
    // print every run, not only the medians
    verbose: { type: "boolean", default: false },
  },
});
const DURATION = Number(options.duration);
const ROUNDS = Number(options.rounds);
const CONNECTIONS = Number(options.connections);
const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "bench-admin-token-0123456789";
const issuer = await startBenchIssuer();
const BASELINE = baselineWorker(ENVIRONMENT, { OIDC_PROVIDERS: issuer.providers });
const SECRETS = { ADMIN_TOKEN, OIDC_PROVIDERS: issuer.providers };

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

let workerd = null;

async function load(base, scenario, duration) {
  const cpuBefore = workerd && cpuMs(workerd);
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration,
    requests: [{ ...requestOf(scenario), setupRequest: (request) => ({ ...request, ...requestOf(scenario) }) }],
  });
  const wrong = Object.entries(result.statusCodeStats).filter(([status]) => Number(status) !== scenario.status);
  if (result.errors > 0 || result.timeouts > 0 || wrong.length > 0) {
    throw new Error(
      `${scenario.name} at ${base}: ${result.errors} errors, ${result.timeouts} timeouts, statuses ` +
        `${JSON.stringify(result.statusCodeStats)}`,
    );
  }
  const cpuPerRequest = workerd ? ((cpuMs(workerd) - cpuBefore) * 1000) / result.requests.total : NaN;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpu: cpuPerRequest };
}

/**
 * Rounds alternate which Worker goes first (project, baseline; baseline, project; ...), so with an even
 * number of rounds neither runs first more often, on a warmer or cooler machine.
 */
async function measure(targets, scenario) {
  for (const base of Object.values(targets)) await load(base, scenario, 2); // warm-up, not counted
  const runs = { project: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["project", "baseline"] : ["baseline", "project"];
    for (const target of order) runs[target].push(await load(targets[target], scenario, DURATION));
  }
  const summary = (list) => ({
    rps: median(list.map((r) => r.rps)),
    p50: median(list.map((r) => r.p50)),
    p99: median(list.map((r) => r.p99)),
    cpu: median(list.map((r) => r.cpu)),
  });
  // The ratio is the median of each round's own ratio: the two runs of a round are back to back, so a
  // machine that drifts between rounds moves both.
  const ratio = median(runs.project.map((run, round) => run.rps / runs.baseline[round].rps));
  // baseline CPU / project CPU: the throughput ratio the two would have if CPU were all that bounds them
  const cpuRatio = median(runs.project.map((run, round) => runs.baseline[round].cpu / run.cpu));
  if (options.verbose) {
    const line = (target) => runs[target].map((run) => `${fixed(run.rps)} (${run.p50}/${run.p99}, ${fixed(run.cpu)} µs)`).join(", ");
    console.log(
      `\n${scenario.name}\n  project  req/s (p50/p99 ms, CPU/request): ${line("project")}\n  baseline req/s (p50/p99 ms, CPU/request): ` +
        `${line("baseline")}`,
    );
  }
  return { project: summary(runs.project), baseline: summary(runs.baseline), ratio, cpuRatio };
}

const fixed = (value, digits = 0) => value.toFixed(digits);

function printTable(results) {
  console.log(
    "\n| scenario | project req/s | p50 ms | p99 ms | CPU µs/req | baseline req/s | p50 ms | p99 ms | CPU µs/req | project / baseline: " +
      "req/s | CPU |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const { name, project, baseline, ratio, cpuRatio } of results) {
    const side = ({ rps, p50, p99, cpu }) => [fixed(rps), p50, p99, fixed(cpu)];
    const cells = [...side(project), ...side(baseline), `${fixed(ratio, 2)}×`, `${fixed(cpuRatio, 2)}×`];
    console.log(`| ${name} | ${cells.join(" | ")} |`);
  }
}

/** Each target by throughput (as set) and by CPU per request (the steadier of the two on a busy machine). */
function printTargets(results) {
  const nothing = { project: { rps: NaN, cpu: NaN }, ratio: NaN, cpuRatio: NaN };
  const found = (name) => results.find((r) => r.name.startsWith(name)) ?? nothing;
  const vsBaseline = (name) => [found(name).ratio, found(name).cpuRatio];
  // how many times the first scenario's rate the second one's is, by req/s and by CPU per request
  const rateOver = (faster, slower) => [
    found(faster).project.rps / found(slower).project.rps,
    found(slower).project.cpu / found(faster).project.cpu,
  ];
  const targets = [
    ["create-my-workspace ≥ 0.95× baseline", vsBaseline("create-my-workspace"), 0.95],
    ["GET /v1/me (identity) ≥ 0.95× baseline", vsBaseline("GET /v1/me, identity"), 0.95],
    ["auth/me (API key) ≥ 0.95× baseline", vsBaseline("GET /v1/auth/me, API key"), 0.95],
    ["GET /v1/me (provider token) ≥ 0.95× baseline", vsBaseline("GET /v1/me, provider token"), 0.95],
    [
      "list-workspaces page 1,000 ≥ 1/1.2 = 0.83× the rate of page 1",
      rateOver("list-workspaces, page 1,000", "list-workspaces, page 1 "),
      1 / 1.2,
    ],
    [
      "list-audit-events offset 50,000 ≥ 1/1.2 = 0.83× the rate of page 1",
      rateOver("list-audit-events, offset", "list-audit-events, page 1 "),
      1 / 1.2,
    ],
    ["list-audit-events page 1 ≥ 0.8× baseline", vsBaseline("list-audit-events, page 1 "), 0.8],
    ["malformed token ≥ 1.5× the rate of a valid authentication", rateOver("malformed token", "GET /v1/me, identity"), 1.5],
  ];
  console.log("\nTargets (ratios from this run; by req/s, and by CPU per request):");
  for (const [what, [byRate, byCpu], bound] of targets) {
    if (Number.isNaN(byRate)) continue;
    const verdict = (value) =>
      value >= bound ? `${fixed(value, 2)} met` : `${fixed(value, 2)} missed by ${fixed((1 - value / bound) * 100, 1)}%`;
    console.log(`  ${what}: req/s ${verdict(byRate)}; CPU ${verdict(byCpu)}`);
  }
}

const outdir = await buildArtifact(ENVIRONMENT);
const bundle = await readFile(join(outdir, "index.js"));
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}; ${new Date().toISOString()}`);
console.log(`bundle: ${fixed(bundle.length / 1024, 1)} KiB, ${fixed(gzipSync(bundle).length / 1024, 1)} KiB gzip`);

const cold = await coldStarts({
  project: { ...artifactWorkerOptions({ outdir, environment: ENVIRONMENT, secrets: SECRETS }), assets: undefined },
  baseline: BASELINE,
  samples: Number(options["cold-starts"]),
});
console.log(
  `cold start, new Miniflare to first response (median of ${options["cold-starts"]}): project ${fixed(median(cold.project))} ms, ` +
    `baseline ${fixed(median(cold.baseline))} ms`,
);

// Without the static assets: Miniflare would route every request through its asset router first, which
// Cloudflare's edge does not (it serves assets before the Worker runs).
const worker = await startArtifact({ outdir, environment: ENVIRONMENT, secrets: SECRETS, companions: [BASELINE], assets: false });
try {
  const targets = { project: (await worker.directUrl()).href, baseline: (await worker.directUrl(BASELINE.name)).href };
  workerd = findWorkerd();
  if (workerd === null) console.log("(no /proc here: CPU per request is not measured)");
  const db = await worker.mf.getD1Database("DB", "artifact");
  const scenarios = await seedScenarios({ base: targets.project, db, adminToken: ADMIN_TOKEN, region: ENVIRONMENT, issuer });
  for (const scenario of scenarios) {
    for (const base of Object.values(targets)) {
      const [answer, expected] = [await answerOf(base, scenario), expectedAnswer(scenario)];
      if (JSON.stringify(answer) !== JSON.stringify(expected)) {
        throw new Error(`${scenario.name} at ${base}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(answer)}`);
      }
    }
  }
  console.log(`load: autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION} s per Worker and scenario`);
  console.log(
    "req/s, p50, p99 and CPU/request (workerd's, all of it): medians over the rounds; project / baseline: the median of the rounds' ratios",
  );

  const results = [];
  for (const scenario of scenarios.filter(({ name }) => new RegExp(options.only).test(name))) {
    results.push({ name: scenario.name, ...(await measure(targets, scenario)) });
    process.stdout.write(".");
  }
  printTable(results);
  printTargets(results);
} finally {
  await worker.dispose();
  await issuer.close();
}
