#!/usr/bin/env node
// `npm run deploy -- <region> | --all [--dry-run] [--config wrangler.toml]`: `wrangler deploy --env <region>`
// for one region, or for every region in wrangler.toml (the slug registry's host first: its deploy applies
// the Durable Object migration the others bind to). A region whose ids are still placeholders is refused
// before anything runs: `npm run provision -- <region>` first. --dry-run prints the commands only (and
// names the regions a real run would refuse).
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { isPlaceholderId, readToml, regionConfig, regionsOf, slugsHostRegion } from "./regions.mjs";

const { values: options, positionals } = parseArgs({
  options: {
    all: { type: "boolean", default: false },
    "dry-run": { type: "boolean", default: false },
    config: { type: "string", default: "wrangler.toml" },
  },
  allowPositionals: true,
});
const dryRun = options["dry-run"];
const configPath = options.config;
const [named] = positionals;
const toml = readToml(configPath);
const known = regionsOf(toml);

if (options.all === (named !== undefined) || positionals.length > 1 || (named !== undefined && !known.includes(named))) {
  console.error(`usage: npm run deploy -- <region> | --all [--dry-run]   (regions: ${known.join(", ")})`);
  process.exit(2);
}
const host = slugsHostRegion(toml);
const regions = named ? [named] : [host, ...known.filter((r) => r !== host)];

const unprovisioned = regions.filter((region) => {
  const { databaseId, kvId } = regionConfig(toml, region);
  return [databaseId, kvId].some((id) => id === undefined || isPlaceholderId(id));
});
if (unprovisioned.length > 0) {
  console.error(
    `not provisioned (placeholder ids in ${configPath}): ${unprovisioned.join(", ")}. Run \`npm run provision -- <region>\` for each ` +
      `first.`,
  );
  if (!dryRun) process.exit(1);
}

for (const region of regions) {
  const command = ["wrangler", "deploy", "--env", region, ...(configPath === "wrangler.toml" ? [] : ["--config", configPath])];
  console.log(`$ npx ${command.join(" ")}`);
  if (dryRun) continue;
  const result = spawnSync("npx", command, { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (result.status !== 0) {
    console.error(`deploying ${region} failed (exit ${result.status}); the regions after it were not deployed.`);
    process.exit(1);
  }
}
