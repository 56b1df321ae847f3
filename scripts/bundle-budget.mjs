// The deployable bundle's budget: `npm run bundle:budget` builds what `wrangler deploy --env us-east-1`
// would upload, gzips it and fails above BUDGET_KIB. It also fails if any zod locale besides English is
// bundled (wrangler.toml's [alias] keeps them out; a zod upgrade that moves them would bring them back).
// Prints the size and what the bundle is made of, largest first. Run in CI.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildArtifact } from "./artifact.mjs";

export const BUDGET_KIB = 208;
const ENVIRONMENT = "us-east-1";

/** Bytes in the bundle per npm package (or "src"), from esbuild's metafile. */
export function composition(metafile) {
  const [, output] = Object.entries(metafile.outputs).find(([name]) => name.endsWith("index.js"));
  const byPackage = new Map();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? "src";
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  return [...byPackage].sort((a, b) => b[1] - a[1]);
}

/** zod locale modules in the bundle other than English. */
export function foreignLocales(metafile) {
  return Object.keys(metafile.inputs).filter((input) => /zod\/v4\/locales\/(?!en\.js$|index\.js$)[^/]+\.js$/.test(input));
}

export async function measureBundle() {
  const outdir = await buildArtifact(ENVIRONMENT);
  try {
    const code = await readFile(join(outdir, "index.js"));
    const metafile = JSON.parse(await readFile(join(outdir, "meta.json"), "utf8"));
    return { rawBytes: code.length, gzipBytes: gzipSync(code).length, metafile };
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rawBytes, gzipBytes, metafile } = await measureBundle();
  const kib = (bytes) => (bytes / 1024).toFixed(1);
  console.log(`bundle (${ENVIRONMENT}): ${kib(rawBytes)} KiB minified, ${kib(gzipBytes)} KiB gzip; budget ${BUDGET_KIB} KiB gzip`);
  for (const [name, bytes] of composition(metafile)) console.log(`  ${kib(bytes).padStart(7)} KiB  ${name}`);
  const locales = foreignLocales(metafile);
  let failed = false;
  if (locales.length > 0) {
    console.error(`FAIL: ${locales.length} non-English zod locales are bundled (check wrangler.toml [alias]), e.g. ${locales[0]}`);
    failed = true;
  }
  if (gzipBytes > BUDGET_KIB * 1024) {
    console.error(`FAIL: ${kib(gzipBytes)} KiB gzip is over the ${BUDGET_KIB} KiB budget`);
    failed = true;
  }
  process.exit(failed ? 1 : 0);
}
