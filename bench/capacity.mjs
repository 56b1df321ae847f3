// `npm run bench:capacity [-- --count 300 --audited-writes 3000]`: what one region's D1 database stores per workspace, per API
// key and per audited write, and what a workspace's audit store (its Durable Object) stores per event,
// measured on the deployable bundle (scripts/artifact.mjs) through the API itself, so every row, index
// entry and audit event a real write makes is counted. It reads the database's size (D1's
// `meta.size_after`) and the store's (`ctx.storage.sql.databaseSize`, through its stats()) before and after
// `count` of each write, once the outbox is forwarded, prints bytes per write and what they come to at
// 2190 days; docs/operations/capacity.md is written from these figures.
import { parseArgs } from "node:util";
import { buildArtifact, startArtifact } from "../scripts/artifact.mjs";

const { values: options } = parseArgs({
  options: { count: { type: "string", default: "300" }, "audited-writes": { type: "string", default: "3000" } },
});
const COUNT = Number(options.count);
// More of these: what stays in D1 per audited write is a few bytes, below one page (4 KiB) per few hundred writes.
const AUDITED_WRITES = Number(options["audited-writes"]);
const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "capacity-admin-token-0123456789abcdef";

const worker = await startArtifact({
  outdir: await buildArtifact(ENVIRONMENT),
  environment: ENVIRONMENT,
  // `count` workspaces of one identity: past the default limit of 100 on what one identity holds.
  secrets: { ADMIN_TOKEN, WORKSPACES_PER_IDENTITY: "999999999" },
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
  // The audited write: one workspace.updated event, the row updated in place. Its event passes through the
  // D1 outbox into the workspace's store; a read of the trail forwards whatever is still on its way.
  const namespace = await worker.mf.getDurableObjectNamespace("AUDIT_STORE", "artifact");
  const store = namespace.get(namespace.idFromName(`${workspaceId}:${new Date().getUTCFullYear()}`));
  const forwarded = () => call("GET", `/v1/${workspaceId}/audit?limit=1`, token);
  await forwarded();
  const storeBefore = await store.stats();
  const d1Before = await size();
  for (let i = 0; i < AUDITED_WRITES; i++) {
    await call("PATCH", `/v1/workspaces/${workspaceId}`, token, { name: `Capacity workspace renamed ${i}` });
  }
  await forwarded();
  const perAuditedWrite = ((await size()) - d1Before) / AUDITED_WRITES;
  const storeAfter = await store.stats();
  const perStoredEvent = (storeAfter.bytes - storeBefore.bytes) / (storeAfter.events - storeBefore.events);
  const outboxLeft = (await db.prepare("SELECT count(*) AS n FROM audit_events").first("n")) ?? 0;

  const GB = 10 * 1000 ** 3; // D1's database limit and a Durable Object's storage limit: 10 GB each
  const DAYS = 2190;
  const perDay = (bytesPerWrite) => Math.floor(GB / Math.max(bytesPerWrite, 1) / DAYS);
  console.log(`D1 bytes per write (${COUNT} of each, ${AUDITED_WRITES} audited writes, through the API):`);
  console.log(`  create-my-workspace (workspace, owner membership, workspace.created event): ${Math.round(perWorkspace)}`);
  console.log(`  create-api-key (key row, api_key.created event):                         ${Math.round(perKey)}`);
  console.log(`  update-workspace, once its event is forwarded (the audited write):       ${Math.round(perAuditedWrite)}`);
  console.log(`  audit events left in the D1 outbox:                                      ${outboxLeft}`);
  console.log(`audit store (the Durable Object of this year of the workspace's trail):`);
  console.log(`  bytes per event:                                                         ${Math.round(perStoredEvent)}`);
  console.log(`  store size now: ${(storeAfter.bytes / 1024).toFixed(0)} KiB for ${storeAfter.events} events`);
  // The verifiable log's part of it (docs/guides/audit.md, "Proving the trail"): the tree's tiles, per leaf.
  const treePerLeaf = (storeAfter.treeBytes - storeBefore.treeBytes) / (storeAfter.leaves - storeBefore.leaves);
  console.log(`  of which the log's tree (tile bytes per leaf):                            ${treePerLeaf.toFixed(1)}`);
  console.log(`at ${DAYS} days' retention:`);
  const regionPerDay = perDay(perAuditedWrite).toLocaleString("en");
  console.log(`  audited writes a day one region's D1 sustains (10 GB / max(bytes per audited write, 1)): ${regionPerDay}`);
  // A workspace's trail is one store per calendar year: a store fills only if one year's events pass 10 GB.
  const perWorkspaceDay = Math.floor(GB / perStoredEvent / 365).toLocaleString("en");
  console.log(`  audited writes a day one workspace makes before a year's store fills (10 GB / bytes per event / 365): ${perWorkspaceDay}`);
  console.log(`database size now: ${((await size()) / 1024 / 1024).toFixed(1)} MiB`);
} finally {
  await worker.dispose();
}
