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
import { coldStarts } from "./cold-start.mjs";
import { cpuMs, findWorkerd } from "./cpu.mjs";
import { loadScenario } from "./scenarios.mjs";
import { prepareBench, startBench } from "./setup.mjs";

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

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

let workerd = null;

async function load(base, scenario, duration) {
  const cpuBefore = workerd && cpuMs(workerd);
  const result = await loadScenario(base, scenario, { duration, connections: CONNECTIONS });
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

/**
 * The targets (docs/performance.md): every scenario at or above 0.95× the baseline by req/s and by CPU per
 * request, its p99 at most 1.2× the baseline's; deep pages as cheap as first ones; page 1 of a 1M-event
 * store at most 2× the CPU of a 1k-event one.
 */
function printTargets(results) {
  const found = (name) => results.find((r) => r.name.startsWith(name));
  const verdict = (value, bound, atMost = false) => {
    const met = atMost ? value <= bound : value >= bound;
    // three digits: 0.948 is a miss of 0.95, which two would print as "0.95"
    return met ? `${fixed(value, 3)} met` : `${fixed(value, 3)} missed (${atMost ? "at most" : "at least"} ${fixed(bound, 2)})`;
  };
  console.log("\nTargets (ratios from this run):");
  for (const { name, project, baseline, ratio, cpuRatio } of results) {
    const p99 = verdict(project.p99 / baseline.p99, 1.2, true);
    console.log(`  ${name}: req/s ${verdict(ratio, 0.95)}; CPU ${verdict(cpuRatio, 0.95)}; p99 / baseline's ${p99}`);
  }
  // how many times the first scenario's rate the second one's is, by req/s and by CPU per request
  const pairs = [
    ["list-workspaces page 1,000 / page 1, rate", "list-workspaces, page 1,000", "list-workspaces, page 1 ", 1 / 1.2],
    ["list-audit-events offset 50,000 / page 1, rate", "list-audit-events, offset", "list-audit-events, page 1 of 100k", 1 / 1.2],
  ];
  for (const [what, deep, first, bound] of pairs) {
    const [a, b] = [found(deep), found(first)];
    if (!a || !b) continue;
    console.log(`  ${what}: req/s ${verdict(a.project.rps / b.project.rps, bound)}; CPU ${verdict(b.project.cpu / a.project.cpu, bound)}`);
  }
  const [small, large] = [found("list-audit-events, page 1 of a 1k"), found("list-audit-events, page 1 of a 1M")];
  if (small && large)
    console.log(`  page 1 of a 1M-event store / of a 1k one, CPU: ${verdict(large.project.cpu / small.project.cpu, 2, true)}`);
}

const prepared = await prepareBench();
const bundle = await readFile(join(prepared.outdir, "index.js"));
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}; ${new Date().toISOString()}`);
console.log(`bundle: ${fixed(bundle.length / 1024, 1)} KiB, ${fixed(gzipSync(bundle).length / 1024, 1)} KiB gzip`);

const cold = await coldStarts({ project: prepared.projectOptions, baseline: prepared.baseline, samples: Number(options["cold-starts"]) });
console.log(
  `cold start, new Miniflare to first response (median of ${options["cold-starts"]}): project ${fixed(median(cold.project))} ms, ` +
    `baseline ${fixed(median(cold.baseline))} ms`,
);

const seeding = performance.now();
const bench = await startBench(prepared);
console.log(`seeded and checked every scenario on both Workers in ${fixed((performance.now() - seeding) / 1000)} s`);
try {
  workerd = findWorkerd();
  if (workerd === null) console.log("(no /proc here: CPU per request is not measured)");
  console.log(`load: autocannon, ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION} s per Worker and scenario`);
  console.log(
    "req/s, p50, p99 and CPU/request (workerd's, all of it): medians over the rounds; project / baseline: the median of the rounds' ratios",
  );

  const results = [];
  for (const scenario of bench.scenarios.filter(({ name }) => new RegExp(options.only).test(name))) {
    results.push({ name: scenario.name, ...(await measure(bench.targets, scenario)) });
    process.stdout.write(".");
  }
  printTable(results);
  printTargets(results);
} finally {
  await bench.dispose();
}
