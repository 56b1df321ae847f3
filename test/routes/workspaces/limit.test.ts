/**
 * The limit on workspaces one identity holds (WORKSPACES_PER_IDENTITY, docs/guides/retries-and-limits.md):
 * counted in the region's D1 over the workspaces it created whose slug is not released, archived ones too.
 * Most tests set a small limit through the var; one seeds rows to reach the default of 100.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, type ErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { createWorkspace, type MintedIdentity, mintIdentity, uniqueSlug } from "../../harness/seed";
import { insertGeneratedRows, slugObject, storedEvents } from "../../harness/storage";

const PATH = "/v1/me/workspaces";
const limitOf = (limit: string) => ({ env: { WORKSPACES_PER_IDENTITY: limit } });
const EU = { REGION: "eu-central-1" as const, DB: env.DB_EU };

/**
 * What the region holds of the identity: its workspaces, its owner memberships, and the workspace.created
 * events it made (in the outbox or already in the stores), none of them for a workspace that does not exist.
 */
async function heldBy(identity: MintedIdentity, db = env.DB) {
  const count = async (statement: string) => (await db.prepare(statement).bind(identity.identity_id).first<number>("n")) ?? 0;
  const ids = await db
    .prepare("select id from workspaces where created_by_identity_id = ?")
    .bind(identity.identity_id)
    .all<{ id: string }>();
  let events = 0;
  for (const { id } of ids.results) events += (await storedEvents(id, { action: "workspace.created" })).length;
  // A trail (outbox rows or a store) of a workspace that was never created: an event written without its row.
  const strays = await db
    .prepare(
      "select count(*) as n from (select workspace_id as scope from audit_events union select scope from audit_store_years) " +
        "where scope is not null and scope not in (select id from workspaces) and scope not like 'operator%'",
    )
    .first<number>("n");
  return {
    workspaces: ids.results.length,
    memberships: await count("select count(*) as n from memberships where identity_id = ?"),
    events,
    strays,
  };
}

/** Creates `n` workspaces as `owner` through the API, each 201. */
async function createMany(owner: MintedIdentity, n: number, options = {}) {
  const created = [];
  for (let i = 0; i < n; i++) {
    const res = await createWorkspace(owner.token, {}, options);
    expect(res.status, res.text).toBe(201);
    created.push(res.body);
  }
  return created;
}

function expectQuotaExceeded(res: { status: number; body: unknown }, limit: number) {
  expect(res.status).toBe(403);
  expect(res.body).toEqual({
    detail: expect.stringContaining(`holds ${limit} workspaces it created in this region`),
    error_code: "quota_exceeded",
    request_id: expect.any(String),
  });
}

describe("the limit on workspaces per identity", () => {
  it("refuses the create past the limit with 403 quota_exceeded, writing nothing and leaving the slug free", async () => {
    const owner = await mintIdentity();
    await createMany(owner, 3, limitOf("3"));
    const slug = uniqueSlug("over");
    const refused = await createWorkspace<ErrorBody>(owner.token, { slug }, limitOf("3"));
    expectQuotaExceeded(refused, 3);
    await expectConformant("POST", PATH, refused);
    expect(await heldBy(owner)).toEqual({ workspaces: 3, memberships: 3, events: 3, strays: 0 });
    expect(await slugObject(slug).holder()).toBeNull();
    const other = await mintIdentity();
    expect((await createWorkspace(other.token, { slug }, limitOf("3"))).status).toBe(201);
  });

  it("counts archived workspaces: archiving one frees no room while it holds its slug", async () => {
    const owner = await mintIdentity();
    const [first] = await createMany(owner, 2, limitOf("2"));
    const archived = await call("POST", `/v1/workspaces/${first!.id}/archive`, { token: owner.token, body: { slug: first!.slug } });
    expect(archived.status).toBe(200);
    expectQuotaExceeded(await createWorkspace(owner.token, {}, limitOf("2")), 2);
  });

  it("holds under concurrent creates: ten at once against a limit of three give three workspaces", async () => {
    const owner = await mintIdentity();
    const answers = await Promise.all(Array.from({ length: 10 }, () => createWorkspace(owner.token, {}, limitOf("3"))));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 201, 403, 403, 403, 403, 403, 403, 403]);
    expect(await heldBy(owner)).toEqual({ workspaces: 3, memberships: 3, events: 3, strays: 0 });
  });

  it("is per identity and per region: another identity, or the same one in another region, still creates", async () => {
    const owner = await mintIdentity();
    await createMany(owner, 1, limitOf("1"));
    expectQuotaExceeded(await createWorkspace(owner.token, {}, limitOf("1")), 1);
    expect((await createWorkspace((await mintIdentity()).token, {}, limitOf("1"))).status).toBe(201);
    const inEu = await createWorkspace(owner.token, {}, { env: { ...EU, WORKSPACES_PER_IDENTITY: "1" } });
    expect(inEu.status, inEu.text).toBe(201);
    expect((await heldBy(owner, env.DB_EU)).workspaces).toBe(1);
  });

  it("is 100 by default, and when the var is not a whole number from 1", async () => {
    const owner = await mintIdentity();
    // 100 workspaces of this identity, straight into D1: the count is all the limit reads.
    const now = new Date().toISOString();
    await insertGeneratedRows(
      "workspaces",
      100,
      "id, slug, name, environment, region, created_by_identity_id, created_at, updated_at",
      "lower(hex(randomblob(16))), ? || '-' || n.i, 'Seeded', 'staging', 'us-east-1', ?, ?, ?",
      uniqueSlug("seeded"),
      owner.identity_id,
      now,
      now,
    );
    expectQuotaExceeded(await createWorkspace(owner.token), 100);
    for (const configured of ["", "none", "0", "-5", "1.5", "1e3", "9999999999"]) {
      expectQuotaExceeded(await createWorkspace(owner.token, {}, limitOf(configured)), 100);
    }
    expect((await createWorkspace(owner.token, {}, limitOf(" 101 "))).status).toBe(201);
  });
});
