/**
 * The README's quick start works as written: its shell block runs with bash against a real `wrangler dev`
 * (fresh state) and the local identity provider `npm run dev` starts, with only their addresses swapped for
 * the test's, and every status a step's comment promises ("…: 201") is the status that step prints, in order.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startDevIssuer } from "../../scripts/dev-issuer.mjs";
import { identitySigningKeys } from "../../scripts/identity-keys.mjs";
import { type DevServer, startDevServer } from "./dev-server";

const ROOT = resolve(import.meta.dirname, "../..");
let dev: DevServer;
let issuer: Awaited<ReturnType<typeof startDevIssuer>>;

/** The first sh block under the README's "## Quick start". */
function quickStart(): string {
  const readme = readFileSync(resolve(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Quick start"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README.md has no sh block under ## Quick start");
  return block;
}

beforeAll(async () => {
  issuer = await startDevIssuer(0);
  dev = await startDevServer("quick-start-admin-token-0123456789abcdef", {
    OIDC_PROVIDERS: issuer.providers,
    // npm run dev keeps one in .dev.env
    IDENTITY_SIGNING_KEYS: await identitySigningKeys(),
  });
}, 180_000);

afterAll(async () => {
  await dev?.stop();
  await issuer?.close();
});

it("runs verbatim against npm run dev, each step answering the status its comment names", async () => {
  const script = quickStart();
  const promised = [...script.matchAll(/^# \d+\..*: (\d{3})\b/gm)].map(([, status]) => Number(status));
  expect(promised.length, "the quick start names the statuses it expects").toBeGreaterThanOrEqual(5);

  const { stdout, stderr } = await promisify(execFile)(
    "bash",
    ["-euo", "pipefail", "-c", script.replaceAll("http://localhost:8787", dev.origin).replaceAll("http://127.0.0.1:8790", issuer.origin)],
    {
      cwd: ROOT,
      // mint-identity reads these as it would read .dev.env and .dev.url of a real `npm run dev`
      env: { ...process.env, ADMIN_TOKEN: dev.adminToken, API_URL: dev.origin },
      timeout: 120_000,
    },
  );
  const printed = stdout
    .split("\n")
    .map((line) => / (\d{3})$/.exec(line)?.[1])
    .filter((status) => status !== undefined)
    .map(Number);
  expect(printed, `${stdout}\n${stderr}`).toEqual(promised);
  // the key made in step 6 describes itself in step 7, so the steps ran with the values they capture
  expect(stdout).toMatch(/"key_id":"key_[0-9A-Za-z]+".*"name":"quick-start"/);
  // and the provider's token of step 8 signed its person in at step 9
  expect(stdout).toContain(`"display_name":"Grace","scopes":["workspaces:read","workspaces:write"]`);
  expect(stdout).toContain(`"issuer":"${issuer.origin}"`);
  // step 11 printed the link a person opens, and step 12's poll waited for them
  expect(stdout).toMatch(new RegExp(`^${dev.origin}/device\\?user_code=[A-Z0-9]{4}-[A-Z0-9]{4}$`, "m"));
  expect(stdout).toContain(`"error":"authorization_pending"`);
}, 180_000);
