// Cold start: the time from handing Miniflare a bundle to its first response, on a fresh instance each
// time (workerd starts, loads and compiles the script, answers). The first request is a malformed-token
// 401, which needs no storage in either Worker, so what differs between them is the script itself.
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

async function firstResponseMs(worker) {
  const started = performance.now();
  const mf = new Miniflare(convertV4MiniflareOptions({ workers: [worker] }));
  try {
    const res = await mf.dispatchFetch("http://localhost/v1/auth/me", { headers: { authorization: "Bearer not-a-valid-token" } });
    await res.text();
    if (res.status !== 401) throw new Error(`cold start: expected 401, got ${res.status}`);
    return performance.now() - started;
  } finally {
    await mf.dispose();
  }
}

/**
 * Median cold start of the project's worker options and of the baseline ({ name, scriptPath, bindings }), taken in
 * alternation. Storage is in memory: nothing is read before the first response.
 */
export async function coldStarts({ project, baseline, samples }) {
  const baselineWorker = {
    name: baseline.name,
    modules: true,
    scriptPath: baseline.scriptPath,
    bindings: baseline.bindings,
    compatibilityDate: project.compatibilityDate,
    kvNamespaces: project.kvNamespaces,
    d1Databases: project.d1Databases,
  };
  const times = { project: [], baseline: [] };
  for (let i = 0; i < samples; i++) {
    times.project.push(await firstResponseMs(project));
    times.baseline.push(await firstResponseMs(baselineWorker));
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return { project: median(times.project), baseline: median(times.baseline) };
}
