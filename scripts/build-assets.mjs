#!/usr/bin/env node
// Copies what /docs loads into build/assets/ (gitignored), which wrangler serves as the Worker's static
// assets: the standalone bundle of @scalar/api-reference, so the API reference needs nothing from outside
// the deployment. Run by wrangler's [build] step (dev and deploy) and by the test setup; cheap when current.
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
export const ASSETS_DIR = fileURLToPath(new URL("../build/assets/", import.meta.url));
/** Where /docs loads the viewer from (the Worker names this path in its page). */
export const SCALAR_ASSET = "scalar/standalone.js";

export function buildAssets() {
  // The package does not export its browser build; it sits beside the main entry (dist/index.js).
  const source = join(dirname(require.resolve("@scalar/api-reference")), "browser", "standalone.js");
  const target = `${ASSETS_DIR}${SCALAR_ASSET}`;
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs && statSync(target).size === statSync(source).size)
    return target;
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`assets: ${buildAssets()}`);
