#!/usr/bin/env node
// `npm run dev [-- <wrangler dev args>]`: local API with local D1 and KV.
// 1. creates .dev.vars with a random ADMIN_TOKEN if it is missing,
// 2. applies the D1 migrations locally (honouring --persist-to),
// 3. starts `wrangler dev` with the arguments given, and says how to get an identity token.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

function optionValue(name) {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i === -1) return undefined;
  return args[i].includes("=") ? args[i].slice(name.length + 1) : args[i + 1];
}

if (!existsSync(".dev.vars")) {
  writeFileSync(".dev.vars", `ADMIN_TOKEN=${randomBytes(24).toString("base64url")}\n`, { mode: 0o600 });
  console.log("Created .dev.vars with a random ADMIN_TOKEN.");
}

const persistTo = optionValue("--persist-to");
const migrate = ["d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
const migrated = spawnSync("npx", ["wrangler", ...migrate], { stdio: "inherit", env });
if (migrated.status !== 0) process.exit(migrated.status ?? 1);

const adminVar = args.map((a, i) => (a === "--var" ? args[i + 1] : a.startsWith("--var=") ? a.slice(6) : undefined)).find((v) => v?.startsWith("ADMIN_TOKEN:"));
const port = optionValue("--port") ?? "8787";
console.log(`
Platform API starting on http://localhost:${port}  (OpenAPI document: /doc)
Get an identity token (personal access token) with:
  ${adminVar ? `ADMIN_TOKEN=${adminVar.slice("ADMIN_TOKEN:".length)} ` : ""}API_URL=http://localhost:${port} npm run -s mint-identity -- you@example.com
`);

const child = spawn("npx", ["wrangler", "dev", ...args], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
