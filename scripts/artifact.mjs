// The deployable artefact, run locally: `wrangler deploy --dry-run` builds exactly what a deploy would
// upload, and Miniflare runs that bundle with the bindings wrangler derives from wrangler.toml for the
// environment (D1 migrated by `wrangler d1 migrations apply`, KV, vars, static assets) and a test secret.
// Used by the artefact smoke test; anything else that needs the built Worker can start it the same way.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

const run = promisify(execFile);
const quiet = {
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  maxBuffer: 16 * 1024 * 1024,
};

/**
 * Builds the bundle a `wrangler deploy --env <environment>` would upload; returns the folder holding
 * index.js, and esbuild's metafile (what went into it) as meta.json. `minify: false` keeps names and
 * esbuild's per-module comments (for CPU profiles: bench/profile.mjs); the deployed bundle is minified.
 */
export async function buildArtifact(environment, { minify = true } = {}) {
  const outdir = await mkdtemp(join(tmpdir(), "platform-artifact-"));
  const args = ["wrangler", "deploy", "--env", environment, "--dry-run", "--outdir", outdir, "--metafile", join(outdir, "meta.json")];
  await run("npx", minify ? args : [...args, "--minify=false"], quiet);
  return outdir;
}

/** The name `wrangler deploy --env <environment>` gives the Worker (what another region's script_name names). */
const deployedName = (environment) => unstable_readConfig({ config: "wrangler.toml", env: environment }).name;

/**
 * Miniflare's (v4-style) options for a built bundle with the environment's bindings from wrangler.toml:
 * its vars, D1, KV, R2, the Durable Objects, the export Workflow and static assets, and `secrets` as the
 * secret bindings. `name` is the Worker's name in Miniflare ("artifact" unless told).
 */
export function artifactWorkerOptions({ outdir, environment, secrets, name = "artifact" }) {
  // The environment requires ADMIN_TOKEN; left declared, wrangler would look for it in a developer's
  // .dev.vars, .env files and shell. The artefact's secrets are the caller's only.
  const config = { ...unstable_readConfig({ config: "wrangler.toml", env: environment }), secrets: undefined };
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config, environment);
  return {
    name,
    modules: true,
    modulesRoot: outdir,
    scriptPath: join(outdir, "index.js"),
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    bindings: { ...workerOptions.bindings, ...secrets },
    kvNamespaces: workerOptions.kvNamespaces,
    d1Databases: workerOptions.d1Databases,
    r2Buckets: workerOptions.r2Buckets,
    durableObjects: workerOptions.durableObjects,
    workflows: workerOptions.workflows,
    assets: workerOptions.assets,
  };
}

/**
 * Runs a built bundle in Miniflare (artifactWorkerOptions), its D1 migrated in a fresh folder. Each of
 * `companions` ({ name, scriptPath, bindings }, an ES module; or its `modules` listed, under
 * `modulesRoot`) runs beside it on the same runtime with the same D1, KV and Durable Objects. Every Worker
 * also listens on its own port: `directUrl(name)`. `assets: false` leaves the static assets out (in
 * Miniflare they put a router in front of the Worker, even on its own port; in production they are served
 * before the Worker runs). `inspectorPort` opens workerd's inspector (0: any free port; for CPU profiles).
 * Returns the Miniflare instance, its URL, the Worker's log lines and a dispose() that also removes the folders.
 * @param {{ outdir: string, environment: string, secrets: Record<string, string>, assets?: boolean,
 *   companions?: { name: string, scriptPath: string, modules?: object[], modulesRoot?: string,
 *   bindings?: Record<string, string> }[], inspectorPort?: number }} options
 */
export async function startArtifact({ outdir, environment, secrets, companions = [], assets = true, inspectorPort }) {
  const artifact = artifactWorkerOptions({ outdir, environment, secrets });
  // A companion reaches the artefact's Durable Objects (the slug registry) as another region's Worker does.
  const durableObjects = Object.fromEntries(
    Object.entries(artifact.durableObjects ?? {}).map(([binding, { className }]) => [binding, { className, scriptName: artifact.name }]),
  );
  const companionWorkers = companions.map(({ name, scriptPath, modules = true, modulesRoot, bindings }) => ({
    name,
    modules,
    modulesRoot,
    scriptPath,
    bindings,
    compatibilityDate: artifact.compatibilityDate,
    kvNamespaces: artifact.kvNamespaces,
    d1Databases: artifact.d1Databases,
    durableObjects,
  }));
  const started = await startWorkers({
    outdir,
    environments: [environment],
    workers: [{ ...artifact, assets: assets ? artifact.assets : undefined }, ...companionWorkers],
    inspectorPort,
  });
  return { ...started, directUrl: (name = artifact.name) => started.mf.unsafeGetDirectURL(name) };
}

/**
 * Several regions' deployments of one built bundle in one Miniflare, as production runs them: each
 * environment's Worker under its deployed name, with its own D1 (migrated) and R2, all of them sharing the
 * one KV namespace and the slug registry's Durable Objects (hosted by the Worker whose binding has no
 * script_name). `urlOf(environment)` is that Worker's own port. Static assets are left out.
 * @param {{ outdir: string, environments: string[], secrets: Record<string, string> }} options
 */
export async function startRegions({ outdir, environments, secrets }) {
  const names = new Map(environments.map((environment) => [environment, deployedName(environment)]));
  const workers = environments.map((environment) => ({
    ...artifactWorkerOptions({ outdir, environment, secrets, name: names.get(environment) }),
    assets: undefined,
  }));
  const started = await startWorkers({ outdir, environments, workers });
  return { ...started, urlOf: (environment) => started.mf.unsafeGetDirectURL(names.get(environment)) };
}

/** Migrates each environment's D1 in a fresh folder and runs `workers` (each on its own port too) there. */
async function startWorkers({ outdir, environments, workers, inspectorPort }) {
  const persist = await mkdtemp(join(tmpdir(), "platform-artifact-state-"));
  for (const environment of environments) {
    await run("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--env", environment, "--persist-to", persist], quiet);
  }
  const direct = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };
  /** The Workers' log lines, kept for the caller instead of printed. */
  const logs = [];
  // wrangler hands out Miniflare's v4-style worker options; Miniflare 5 converts them itself.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      handleStructuredLogs: (log) => logs.push(log.message),
      inspectorPort,
      // where `wrangler ... --persist-to <persist>` keeps local state, so the migrated D1 is the one served
      resourcePersistencePath: join(persist, "v3"),
      workers: workers.map((worker) => ({ ...worker, ...direct })),
    }),
  );
  const url = await mf.ready;
  return {
    mf,
    url,
    logs,
    async dispose() {
      await mf.dispose();
      await Promise.all([rm(persist, { recursive: true, force: true }), rm(outdir, { recursive: true, force: true })]);
    },
  };
}
