// `npm run bench:capacity [-- --count 300]`: what one region's D1 database stores per workspace, per API
// key and per audit event, measured on the deployable bundle (scripts/artifact.mjs) through the API
// itself, so every row, index entry and audit event a real write makes is counted. It reads the database's
// size (D1's `meta.size_after`) before and after `count` of each write and prints bytes per write;
// docs/operations/capacity.md turns these into how much a region holds.
import { parseArgs } from "node:util";
import { buildArtifact, startArtifact } from "../scripts/artifact.mjs";

const { values: options } = parseArgs({ options: { count: { type: "string", default: "300" } } });
const COUNT = Number(options.count);
const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "capacity-admin-token-0123456789";

const worker = await startArtifact({
  outdir: await buildArtifact(ENVIRONMENT),
  environment: ENVIRONMENT,
  secrets: { ADMIN_TOKEN },
  assets: false,
});
try {
  const base = await worker.directUrl();
  const db = await worker.mf.getD1Database("DB", "artifact");
  const size = async () => (await db.prepare("SELECT 1").run()).meta.size_after;

  async function call(method, path, token, body) {
    const res = await fetch(new URL(path, base), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "user-agent": "platform-cli/1.4.2 (capacity bench)",
        "cf-connecting-ip": "203.0.113.7",
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return JSON.parse(text);
  }

  /** Bytes the database grew by per call of `write(i)`, over COUNT calls. */
  async function bytesPer(write) {
    const before = await size();
    for (let i = 0; i < COUNT; i++) await write(i);
    return ((await size()) - before) / COUNT;
  }

  const { token } = await call("POST", "/admin/identities", ADMIN_TOKEN, { email: "capacity@example.com", display_name: "Capacity Bench" });
  const stamp = Date.now().toString(36);
  const workspaceIds = [];
  const perWorkspace = await bytesPer(async (i) => {
    const workspace = await call("POST", "/v1/me/workspaces", token, {
      slug: `capacity-${stamp}-${i}`,
      name: `Capacity workspace ${i}`,
      environment: "production",
    });
    workspaceIds.push(workspace.id);
  });
  const [workspaceId] = workspaceIds;
  const perKey = await bytesPer((i) =>
    call("POST", `/v1/${workspaceId}/api-keys`, token, { duration_days: 90, role: "member", name: `ci-deploy-key-${i}` }),
  );
  const perEvent = await bytesPer((i) =>
    call("PATCH", `/v1/workspaces/${workspaceId}`, token, { name: `Capacity workspace renamed ${i}` }),
  );

  console.log(`D1 bytes per write (${COUNT} of each, through the API):`);
  console.log(`  create-my-workspace (workspace, owner membership, workspace.created event): ${Math.round(perWorkspace)}`);
  console.log(`  create-api-key (key row, api_key.created event):                         ${Math.round(perKey)}`);
  console.log(`  update-workspace (one workspace.updated event; the row is updated in place): ${Math.round(perEvent)}`);
  console.log(`database size now: ${((await size()) / 1024 / 1024).toFixed(1)} MiB`);
} finally {
  await worker.dispose();
}
