#!/usr/bin/env node
// `npm run -s mint-identity -- <email> [scope ...]`: creates an identity on a running API through the
// admin surface and prints its personal access token (and nothing else on stdout, for `$(...)`).
// ADMIN_TOKEN comes from the environment, else from .dev.env (written by `npm run dev`). The API is API_URL,
// else the running `npm run dev` (its .dev.url, whatever its port), else http://localhost:8787.
import { existsSync, readFileSync } from "node:fs";
import { apiUrl } from "./dev-url.mjs";

const [email, ...scopes] = process.argv.slice(2);
if (!email) {
  console.error("usage: npm run -s mint-identity -- <email> [scope ...]");
  process.exit(2);
}

function adminToken() {
  if (process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
  if (existsSync(".dev.env")) {
    const line = readFileSync(".dev.env", "utf8")
      .split("\n")
      .find((l) => l.startsWith("ADMIN_TOKEN="));
    if (line)
      return line
        .slice("ADMIN_TOKEN=".length)
        .trim()
        .replace(/^"(.*)"$/, "$1");
  }
  console.error("No ADMIN_TOKEN: set it in the environment or run `npm run dev` once to create .dev.env.");
  process.exit(2);
}

const { url, source } = apiUrl();
const res = await fetch(`${url}/admin/identities`, {
  method: "POST",
  headers: { authorization: `Bearer ${adminToken()}`, "content-type": "application/json" },
  body: JSON.stringify(scopes.length ? { email, scopes } : { email }),
}).catch((err) => {
  console.error(`Cannot reach ${url} (from ${source}): ${err.cause?.code ?? err.message}.`);
  console.error("Start the API with `npm run dev`, or name the running one with API_URL, e.g.");
  console.error("  API_URL=http://localhost:8788 npm run -s mint-identity -- you@example.com");
  process.exit(1);
});
const body = await res.json().catch(() => ({}));
if (res.status !== 201) {
  console.error(`POST ${url}/admin/identities answered ${res.status}: ${JSON.stringify(body)}`);
  process.exit(1);
}
console.error(`identity_id ${body.identity_id} (${body.email}, scopes ${body.scopes.join(" ")})`);
console.log(body.token);
