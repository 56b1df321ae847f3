#!/usr/bin/env node
// `npm run dev [-- <wrangler dev args>]`: local API with local D1 and KV.
// 1. fails at once if the port is taken (wrangler would move to another port, and a second instance would
//    share the first one's local database),
// 2. creates .dev.env with a random ADMIN_TOKEN, AUDIT_EXPORT_SIGNING_KEY and IDEMPOTENCY_SECRET, and a new
//    AUDIT_SIGNING_KEY (the audit log's Ed25519 checkpoint key, named localhost/audit) and IDENTITY_SIGNING_KEYS
//    (the access tokens' RS256 key ring) (each added if missing), and
//    passes it with --env-file,
// 3. applies the D1 migrations locally (honouring --persist-to),
// 4. starts a local identity provider on 127.0.0.1:8790 (scripts/dev-issuer.mjs) and trusts it through
//    OIDC_PROVIDERS, unless .dev.env or a --var sets OIDC_PROVIDERS,
// 5. starts `wrangler dev` on that port, and says how to get an identity token,
// 6. records its URL in .dev.url while it runs, where `npm run mint-identity` finds it.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";
import { DEV_ISSUER_PORT, devProviders, startDevIssuer } from "./dev-issuer.mjs";
import { DEFAULT_PORT, DEV_URL_FILE } from "./dev-url.mjs";
import { identitySigningKeys } from "./identity-keys.mjs";

const SECRETS_FILE = ".dev.env";
const args = process.argv.slice(2);
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };

function optionValue(name) {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i === -1) return undefined;
  return args[i].includes("=") ? args[i].slice(name.length + 1) : args[i + 1];
}

/** Resolves when nothing listens on the port (on the address wrangler dev binds), rejects otherwise. */
function portIsFree(port, host) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

const port = Number(optionValue("--port") ?? DEFAULT_PORT);
const host = optionValue("--ip") ?? "localhost";
try {
  // "localhost" may resolve to either loopback address; wrangler binds 127.0.0.1.
  for (const address of host === "localhost" ? ["localhost", "127.0.0.1"] : [host]) await portIsFree(port, address);
} catch (err) {
  const reason = err.code === "EADDRINUSE" ? "is already in use (another `npm run dev`?)" : `cannot be used (${err.code ?? err.message})`;
  console.error(`Port ${port} ${reason}.`);
  console.error(`Stop the other process, or run a second instance on its own port and state:`);
  console.error(`  npm run dev -- --port ${port + 1} --persist-to ./state-${port + 1}`);
  process.exit(1);
}

// Earlier versions kept the token in .dev.vars, which wrangler also hands to the tests: move it.
if (!existsSync(SECRETS_FILE) && existsSync(".dev.vars")) {
  renameSync(".dev.vars", SECRETS_FILE);
  console.log(`Moved .dev.vars to ${SECRETS_FILE} (the tests no longer see it).`);
}
const existing = existsSync(SECRETS_FILE) ? readFileSync(SECRETS_FILE, "utf8") : "";
for (const [name, bytes] of [
  ["ADMIN_TOKEN", 24],
  ["AUDIT_EXPORT_SIGNING_KEY", 32],
  ["IDEMPOTENCY_SECRET", 32],
]) {
  if (new RegExp(`^${name}=`, "m").test(existing)) continue;
  appendFileSync(SECRETS_FILE, `${existing && !existing.endsWith("\n") ? "\n" : ""}${name}=${randomBytes(bytes).toString("base64url")}\n`, {
    mode: 0o600,
  });
  console.log(`Added a random ${name} to ${SECRETS_FILE}.`);
}
if (!/^IDENTITY_SIGNING_KEYS=/m.test(readFileSync(SECRETS_FILE, "utf8"))) {
  appendFileSync(SECRETS_FILE, `IDENTITY_SIGNING_KEYS=${await identitySigningKeys()}\n`, { mode: 0o600 });
  console.log(`Added a new IDENTITY_SIGNING_KEYS to ${SECRETS_FILE}.`);
}
if (!/^AUDIT_SIGNING_KEY=/m.test(readFileSync(SECRETS_FILE, "utf8"))) {
  const { signer } = await generateKeyPair("localhost/audit");
  appendFileSync(SECRETS_FILE, `AUDIT_SIGNING_KEY=${signer}\n`, { mode: 0o600 });
  console.log(`Added a new AUDIT_SIGNING_KEY to ${SECRETS_FILE}.`);
}

const persistTo = optionValue("--persist-to");
const migrate = ["d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
const migrated = spawnSync("npx", ["wrangler", ...migrate], { stdio: "inherit", env });
if (migrated.status !== 0) process.exit(migrated.status ?? 1);

const url = `http://${host === "localhost" ? "localhost" : host}:${port}`;
const vars = args.map((a, i) => (a === "--var" ? args[i + 1] : a.startsWith("--var=") ? a.slice(6) : undefined));
const adminVar = vars.find((v) => v?.startsWith("ADMIN_TOKEN:"));
const ownProviders = vars.some((v) => v?.startsWith("OIDC_PROVIDERS:")) || /^OIDC_PROVIDERS=/m.test(readFileSync(SECRETS_FILE, "utf8"));
let issuer;
if (!ownProviders) {
  issuer = await startDevIssuer().catch((err) => {
    const why = err.code ?? err.message;
    console.warn(`The local identity provider cannot listen on 127.0.0.1:${DEV_ISSUER_PORT} (${why}); the one there, if any, is trusted.`);
    return undefined;
  });
}
console.log(`
Platform API starting on ${url}  (OpenAPI document: /doc, reference: /docs)
Get an identity token (personal access token) with:
  ${adminVar ? `ADMIN_TOKEN=${adminVar.slice("ADMIN_TOKEN:".length)} ` : ""}npm run -s mint-identity -- you@example.com
${
  ownProviders
    ? ""
    : `or sign in through the local identity provider:
  curl -s "http://127.0.0.1:${DEV_ISSUER_PORT}/token?email=you@example.com"
`
}`);

// The newest instance is the one mint-identity talks to; each removes the file only if it is still its own.
writeFileSync(DEV_URL_FILE, `${url}\n`);
const forgetUrl = () => {
  if (existsSync(DEV_URL_FILE) && readFileSync(DEV_URL_FILE, "utf8").trim() === url) rmSync(DEV_URL_FILE);
};

const wranglerArgs = [...args];
if (optionValue("--port") === undefined) wranglerArgs.push("--port", String(port));
if (optionValue("--env-file") === undefined) wranglerArgs.push("--env-file", SECRETS_FILE);
if (!ownProviders) wranglerArgs.push("--var", `OIDC_PROVIDERS:${devProviders()}`);
const child = spawn("npx", ["wrangler", "dev", ...wranglerArgs], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => {
  forgetUrl();
  issuer?.close();
  process.exit(code ?? 0);
});
