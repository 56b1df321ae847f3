// Cold start: the time from handing Miniflare a bundle to its first response, on a fresh instance each
// time (workerd starts, loads and compiles the script, answers). The first request is a malformed-token
// 401, which needs no storage in either Worker, so what differs between them is the script itself.
import { convertV4MiniflareOptions, Miniflare } from "miniflare";

/**
 * A fresh Miniflare running `worker`: how long until its first response, and that response.
 * @returns {Promise<{ ms: number, status: number, body: any }>}
 */
export async function firstResponse(worker) {
  const started = performance.now();
  // log lines are discarded (the project writes none for this request; an older build did)
  const mf = new Miniflare(convertV4MiniflareOptions({ handleStructuredLogs: () => {}, workers: [worker] }));
  try {
    const res = await mf.dispatchFetch("http://localhost/v1/auth/me", { headers: { authorization: "Bearer not-a-valid-token" } });
    const body = await res.json();
    return { ms: performance.now() - started, status: res.status, body };
  } finally {
    await mf.dispose();
  }
}

/** The baseline ({ name, scriptPath, modules, modulesRoot, bindings }) with the project's storage bindings, runnable alone. */
export function standaloneBaseline(project, baseline) {
  return {
    name: baseline.name,
    modules: baseline.modules ?? true,
    modulesRoot: baseline.modulesRoot,
    scriptPath: baseline.scriptPath,
    bindings: baseline.bindings,
    compatibilityDate: project.compatibilityDate,
    kvNamespaces: project.kvNamespaces,
    d1Databases: project.d1Databases,
  };
}

/**
 * `samples` cold starts (ms) of the project's worker options and of the baseline, taken in alternation.
 * Storage is in memory: nothing is read before the first response.
 */
export async function coldStarts({ project, baseline, samples }) {
  const workers = { project, baseline: standaloneBaseline(project, baseline) };
  const times = { project: [], baseline: [] };
  for (let i = 0; i < samples; i++) {
    for (const [name, worker] of Object.entries(workers)) {
      const { ms, status } = await firstResponse(worker);
      if (status !== 401) throw new Error(`cold start of ${name}: expected 401, got ${status}`);
      times[name].push(ms);
    }
  }
  return times;
}
