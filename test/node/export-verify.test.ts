/**
 * An auditor's check of a long export, end to end: the deployable bundle (scripts/artifact.mjs, its export
 * Workflow included) writes a three-year export through its workflow (AUDIT_EXPORT_SYNC_MAX_EVENTS set low,
 * so a few hundred events take that path), and the offline verifier (`npm run audit:verify`, the command an
 * auditor runs) accepts the downloaded file: every line proven in its year's log, each log's checkpoint
 * signed by the region's key.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArtifact, startArtifact } from "../../scripts/artifact.mjs";
import { identitySigningKeys } from "../../scripts/identity-keys.mjs";
import { seedAuditEvents } from "../../scripts/seed-audit-events.mjs";
import { generateKeyPair } from "../../src/security/transparency/signed-note";

const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "export-verify-admin-token-0123456789abcdef";
const ROOT = resolve(import.meta.dirname, "../..");
const YEARS = [2024, 2025, 2026];
const PER_YEAR = 120;

let worker: Awaited<ReturnType<typeof startArtifact>>;
let verifierKey: string;
let dir: string;

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await worker.mf.dispatchFetch(`${worker.url.origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: text.startsWith("{") ? JSON.parse(text) : text };
}

beforeAll(async () => {
  const { signer, verifier } = await generateKeyPair("us-east-1.platform-api.invalid/audit");
  verifierKey = verifier;
  worker = await startArtifact({
    outdir: await buildArtifact(ENVIRONMENT),
    environment: ENVIRONMENT,
    secrets: {
      ADMIN_TOKEN,
      AUDIT_SIGNING_KEY: signer,
      AUDIT_EXPORT_SIGNING_KEY: "export-verify-link-signing-key-0123456789abcdef",
      IDENTITY_SIGNING_KEYS: await identitySigningKeys(),
      AUDIT_EXPORT_SYNC_MAX_EVENTS: "50",
    },
  });
  dir = await mkdtemp(join(tmpdir(), "export-verify-"));
}, 180_000);

afterAll(async () => {
  await worker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a three-year export written by the workflow", () => {
  it("is downloaded once done and verified by npm run audit:verify, every line in its year's log", async () => {
    const identity = await call("POST", "/admin/identities", ADMIN_TOKEN, { email: "auditor@example.com" });
    const token = identity.body.token as string;
    const workspace = await call("POST", "/v1/me/workspaces", token, {
      slug: `verify-${Date.now()}`,
      name: "Verify",
      environment: "staging",
    });
    expect(workspace.status, workspace.text).toBe(201);
    const db = await worker.mf.getD1Database("DB", "artifact");
    for (const year of YEARS) {
      await seedAuditEvents(db, { workspaceId: workspace.body.id, count: PER_YEAR, from: `${year}-06-01T00:00:00.000Z`, nameLength: 200 });
    }

    const range = { date_from: "2024-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z", action: "workspace.updated" };
    const created = await call("POST", `/v1/${workspace.body.id}/audit/export`, token, range);
    expect(created.status, created.text).toBe(200);
    expect(created.body).toMatchObject({ status: "pending", row_count: PER_YEAR * YEARS.length });

    let item: { status: string; download_url: string | null; row_count: number };
    const deadline = Date.now() + 90_000;
    do {
      await new Promise((done) => setTimeout(done, 200));
      item = (await call("GET", `/v1/${workspace.body.id}/audit/exports/${created.body.export_id}`, token)).body;
    } while (item.status !== "done" && item.status !== "failed" && Date.now() < deadline);
    expect(item).toMatchObject({ status: "done", row_count: PER_YEAR * YEARS.length });

    const link = new URL(item.download_url!);
    const file = await worker.mf.dispatchFetch(`${worker.url.origin}${link.pathname}${link.search}`);
    expect(file.status).toBe(200);
    const exportPath = join(dir, "export.ndjson");
    const keysPath = join(dir, "keys.txt");
    await writeFile(exportPath, await file.text());
    await writeFile(keysPath, `${verifierKey}\n`);

    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, ["scripts/audit-verify.mjs", exportPath, "--keys", keysPath], { cwd: ROOT }, (error, stdout, stderr) =>
        done({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^verified ${PER_YEAR * YEARS.length} events in 3 logs \\(checkpoints: `));
    for (const year of YEARS) expect(run.stdout).toContain(`/audit/${workspace.body.id}/${year} size `);
  }, 180_000);
});
