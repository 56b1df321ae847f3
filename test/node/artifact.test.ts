/**
 * The deployable artefact works: the bundle `wrangler deploy --dry-run` builds for a regional
 * environment, run in Miniflare with that environment's bindings (scripts/artifact.mjs), answers the
 * core flows. This checks what would be uploaded, not only the source under the test plugin.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArtifact, startArtifact } from "../../scripts/artifact.mjs";

const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "artifact-admin-token-0123456789abcdef";
let worker: Awaited<ReturnType<typeof startArtifact>>;

async function call(method: string, path: string, token?: string, body?: unknown) {
  const res = await worker.mf.dispatchFetch(`${worker.url.origin}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text.startsWith("{") ? JSON.parse(text) : text };
}

beforeAll(async () => {
  worker = await startArtifact({ outdir: await buildArtifact(ENVIRONMENT), environment: ENVIRONMENT, secrets: { ADMIN_TOKEN } });
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
});

describe(`the ${ENVIRONMENT} artefact in Miniflare`, () => {
  it("serves /doc naming the environment's PUBLIC_URL, and the viewer from its static assets", async () => {
    const doc = await call("GET", "/doc");
    expect(doc.status).toBe(200);
    expect(doc.body.servers).toEqual([
      { url: `https://${ENVIRONMENT}.platform-api.invalid`, description: `This deployment (${ENVIRONMENT})` },
    ]);
    expect(doc.body.paths["/v1/me/workspaces"].post.operationId).toBe("create-my-workspace");
    const viewer = await call("GET", "/scalar/standalone.js");
    expect(viewer.status).toBe(200);
    expect(viewer.headers.get("content-type")).toMatch(/javascript/);
    expect(viewer.text.length).toBeGreaterThan(1_000_000);
  });

  it("mints an identity, creates a workspace (201, then 409 for its slug), and creates and uses an API key", async () => {
    const identity = await call("POST", "/admin/identities", ADMIN_TOKEN, { email: "smoke@example.com" });
    expect(identity.status, identity.text).toBe(201);
    const token = identity.body.token as string;

    const slug = `smoke-${Date.now()}`;
    const created = await call("POST", "/v1/me/workspaces", token, { slug, name: "Smoke", environment: "staging" });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ slug, region: ENVIRONMENT });
    const again = await call("POST", "/v1/me/workspaces", token, { slug, name: "Smoke", environment: "staging" });
    expect(again.status).toBe(409);
    expect(again.body.error_code).toBe("slug_taken");

    const key = await call("POST", `/v1/${created.body.id}/api-keys`, token, { duration_days: 1, role: "viewer" });
    expect(key.status, key.text).toBe(201);
    const me = await call("GET", "/v1/auth/me", key.body.api_key);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ workspace_id: created.body.id, key_id: key.body.key_id });
    expect((await call("GET", `/v1/workspaces/${created.body.id}`, key.body.api_key)).body.slug).toBe(slug);

    // at the deployed LOG_LEVEL (warn) ordinary requests, even a 409, write no line of their own
    expect(worker.logs).toEqual([]);
    // a refused key is a security event, with its reason (revoking deleted its record: unknown), never the secret
    expect((await call("DELETE", `/v1/${created.body.id}/api-keys/${key.body.key_id}`, token)).status).toBe(204);
    expect((await call("GET", "/v1/auth/me", key.body.api_key)).status).toBe(401);
    expect(worker.logs).toHaveLength(1);
    expect(JSON.parse(worker.logs[0]!)).toMatchObject({
      level: "warn",
      message: "refused a credential",
      reason: "unknown",
      principal_type: "api_key",
    });
    for (const secret of [token, key.body.api_key, ADMIN_TOKEN]) expect(worker.logs[0]).not.toContain(secret);
  });

  it("refuses the admin surface without its secret, and logs the refusal", async () => {
    expect((await call("POST", "/admin/identities", "not-the-admin-token", { email: "x@example.com" })).status).toBe(401);
    expect(JSON.parse(worker.logs.at(-1)!)).toMatchObject({ level: "warn", message: "refused an admin request", reason: "wrong_token" });
  });
});

describe("npm run mint-identity against the running API", () => {
  const MINT = resolve(import.meta.dirname, "../../scripts/mint-identity.mjs");
  let folder: string;
  /** Runs the script in `folder` (where a dev server's .dev.url and .dev.env would be), as `npm run -s mint-identity` does. */
  const mint = (env: Record<string, string> = {}) =>
    promisify(execFile)(process.execPath, [MINT, "dev@example.com"], { cwd: folder, env: { PATH: process.env.PATH ?? "", ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), "platform-mint-"));
    await writeFile(join(folder, ".dev.env"), `ADMIN_TOKEN=${ADMIN_TOKEN}\n`);
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  it("finds the dev server on whatever port it runs, from the .dev.url npm run dev writes", async () => {
    await writeFile(join(folder, ".dev.url"), `${worker.url.origin}\n`);
    const minted = await mint();
    expect(minted.code, minted.stderr).toBe(0);
    expect(minted.stdout.trim()).toMatch(/^pat_[0-9A-Za-z]{36}$/);
  });

  it("says where it looked and names API_URL when nothing answers there; API_URL wins over .dev.url", async () => {
    await writeFile(join(folder, ".dev.url"), "http://127.0.0.1:9\n");
    const refused = await mint();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Cannot reach http://127.0.0.1:9 (from .dev.url, written by npm run dev)");
    expect(refused.stderr).toContain("API_URL=http://localhost:8788 npm run -s mint-identity");
    const named = await mint({ API_URL: worker.url.origin });
    expect(named.code, named.stderr).toBe(0);
  });
});
