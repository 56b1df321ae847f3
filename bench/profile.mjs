// `npm run bench:profile [-- --only <regexp> --duration 4 --top 12 --save /tmp/profile]`
//
// Where each Worker's CPU goes, per scenario: the same bundle as `npm run bench` (built unminified, so
// frames keep their names and esbuild's module comments), the same baseline and seeded data, loaded with
// autocannon while V8's sampling profiler runs in that Worker's isolate (workerd's inspector, the
// DevTools protocol). Prints, per scenario and Worker, the isolate's JS time per request, the share of
// each module group (npm package, or the project's src folder) by self time, and the top functions.
// D1 and KV run in their own isolates (simulators): they are not in these profiles, and they cost both
// Workers the same. A measuring tool, not a test.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadScenario } from "./scenarios.mjs";
import { prepareBench, startBench } from "./setup.mjs";

const { values: options } = parseArgs({
  options: {
    only: { type: "string", default: "" },
    duration: { type: "string", default: "4" },
    top: { type: "string", default: "12" },
    // also write each profile to <save>-<scenario>-<project|baseline>.cpuprofile (Chrome DevTools opens them)
    save: { type: "string", default: "" },
    // the audit stores seeded, by their events (as `npm run bench -- --store-sizes`)
    "store-sizes": { type: "string", default: "1000,1000000" },
  },
});

const scenarioFile = (name) => name.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");

/** One DevTools-protocol session with a Worker's isolate. */
async function inspect(inspectorUrl, target) {
  const socket = new WebSocket(new URL(`/${target}`, inspectorUrl));
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let next = 0;
  const pending = new Map();
  socket.addEventListener("message", ({ data }) => {
    const message = JSON.parse(String(data));
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error) waiting.reject(new Error(`${target}: ${message.error.message}`));
    else waiting.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const id = ++next;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: () => socket.close(),
  };
}

/**
 * Line number (0-based) -> module path, from the comments esbuild writes before each module of an
 * unminified bundle (`// node_modules/hono/dist/hono-base.js`, `// src/http/app.ts`).
 */
function moduleLines(bundlePath) {
  const starts = [];
  readFileSync(bundlePath, "utf8")
    .split("\n")
    .forEach((line, number) => {
      const match = /^\/\/ ((?:node_modules|src|\.\.)\/\S+)$/.exec(line);
      if (match) starts.push([number, match[1]]);
    });
  return (line) => {
    let found = "(bundle)";
    for (const [start, path] of starts) {
      if (start > line) break;
      found = path;
    }
    return found;
  };
}

/** A module path's group: its npm package, or the project's src folder. */
function groupOf(path) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1];
  const src = /^src\/([^/]+)/.exec(path);
  return src ? `src/${src[1]}` : path;
}

const add = (map, key, micros) => map.set(key, (map.get(key) ?? 0) + micros);

/**
 * From a V8 CPU profile, in µs, idle time left out: self time per frame and per module group, and time
 * per project frame (`ours`): each sample's time goes to the innermost frame of the Worker's own code
 * (src/, or the baseline's script) on its stack, with what that frame called in libraries and the runtime.
 */
function summarize(profile, moduleOf) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map(profile.nodes.flatMap((node) => (node.children ?? []).map((child) => [child, node.id])));
  const describe = ({ functionName, url, lineNumber }) => {
    const inBundle = url.endsWith("index.js");
    const module = inBundle ? moduleOf(lineNumber) : url;
    const own = inBundle ? module.startsWith("src/") : url.includes("bench/");
    const group = inBundle ? groupOf(module) : functionName.startsWith("(") ? functionName : "(runtime)";
    return { frame: `${functionName || "(anonymous)"} ${module ?? ""}:${lineNumber + 1}`, group, own };
  };
  const self = new Map();
  for (const [i, id] of profile.samples.entries()) add(self, id, profile.timeDeltas[i] ?? 0);
  const [frames, groups, ours] = [new Map(), new Map(), new Map()];
  let busy = 0;
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id);
    if (callFrame.functionName === "(idle)") continue;
    busy += micros;
    const { frame, group } = describe(callFrame);
    add(frames, frame, micros);
    add(groups, group, micros);
    let caller = id;
    while (caller !== undefined && !describe(byId.get(caller).callFrame).own) caller = parentOf.get(caller);
    add(ours, caller === undefined ? "(outside the Worker's code)" : describe(byId.get(caller).callFrame).frame, micros);
  }
  return { busy, frames, groups, ours };
}

const prepared = await prepareBench({ minify: false });
const moduleOf = moduleLines(join(prepared.outdir, "index.js"));
const storeSizes = options["store-sizes"].split(",").filter(Boolean).map(Number);
const bench = await startBench(prepared, { inspectorPort: 0, seed: { storeSizes } });
try {
  const inspectorUrl = (await bench.mf.getInspectorURL()).href;
  const duration = Number(options.duration);
  const top = Number(options.top);
  for (const scenario of bench.scenarios.filter(({ name }) => new RegExp(options.only).test(name))) {
    console.log(`\n## ${scenario.name}`);
    for (const [side, name] of Object.entries(bench.workerNames)) {
      await loadScenario(bench.targets[side], scenario, { duration: 1, connections: 10 }); // warm-up
      const session = await inspect(inspectorUrl, `core:user:${name}`);
      await session.send("Profiler.enable");
      await session.send("Profiler.setSamplingInterval", { interval: 50 });
      await session.send("Profiler.start");
      const result = await loadScenario(bench.targets[side], scenario, { duration, connections: 10 });
      const { profile } = await session.send("Profiler.stop");
      if (options.save) writeFileSync(`${options.save}-${scenarioFile(scenario.name)}-${side}.cpuprofile`, JSON.stringify(profile));
      session.close();
      const { busy, frames, groups, ours } = summarize(profile, moduleOf);
      const requests = result.requests.total;
      const perRequest = (micros) => (micros / requests).toFixed(1);
      console.log(`\n${side}: ${requests} requests, ${perRequest(busy)} µs of the isolate's CPU per request (sampled)`);
      const ranked = (map) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
      console.log(
        `  by module group (µs/request): ${ranked(groups)
          .map(([group, micros]) => `${group} ${perRequest(micros)}`)
          .join(", ")}`,
      );
      console.log("  top functions by self time:");
      for (const [frame, micros] of ranked(frames)) console.log(`  ${perRequest(micros).padStart(7)} µs  ${frame}`);
      console.log("  top functions of the Worker's own code, with what they call in libraries and the runtime:");
      for (const [frame, micros] of ranked(ours)) console.log(`  ${perRequest(micros).padStart(7)} µs  ${frame}`);
    }
  }
} finally {
  await bench.dispose();
}
