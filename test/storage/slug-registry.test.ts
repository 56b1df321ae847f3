/**
 * Global slug uniqueness (src/storage/slug-registry.ts): one Durable Object per slug, shared by every region.
 * Two regions run here as in authz.test.ts: the same app with REGION eu-central-1 and its own D1 (DB_EU);
 * the SLUGS namespace is the one both deployments bind. test/node/multi-region.test.ts runs two real
 * Workers.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RESERVATION_TTL_MS, type SlugRegistry } from "../../src/storage/slug-registry";
import { call, type ErrorBody } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { createWorkspace, mintIdentity, uniqueSlug } from "../harness/seed";
import { faultyD1, faultySlugs, kvKeyCount, slugObject } from "../harness/storage";

const EU = { REGION: "eu-central-1" as const, DB: env.DB_EU };

async function rowsWithSlug(db: D1Database, slug: string): Promise<number> {
  return (await db.prepare("select count(*) as n from workspaces where slug = ?").bind(slug).first<{ n: number }>())?.n ?? 0;
}

async function eventsForSlug(db: D1Database, slug: string): Promise<number> {
  const row = await db
    .prepare("select count(*) as n from audit_events where action = 'workspace.created' and metadata like ?")
    .bind(`%"slug":"${slug}"%`)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("a slug is unique across regions", () => {
  it("refuses in eu-central-1 a slug us-east-1 holds (409 slug_taken), writing nothing there", async () => {
    const owner = await mintIdentity();
    const slug = uniqueSlug("global");
    const us = await createWorkspace(owner.token, { slug });
    expect(us.status).toBe(201);
    const eu = await createWorkspace<ErrorBody>(owner.token, { slug }, { env: EU });
    expect(eu.status).toBe(409);
    expect(eu.body.error_code).toBe("slug_taken");
    await expectConformant("POST", "/v1/me/workspaces", eu);
    expect(await rowsWithSlug(env.DB_EU, slug)).toBe(0);
    expect(await slugObject(slug).holder()).toMatchObject({ workspaceId: us.body.id, region: "us-east-1", confirmed: true });
  });

  it("gives exactly one 201 when two regions create one slug at the same moment", async () => {
    const owner = await mintIdentity();
    for (let round = 0; round < 5; round++) {
      const slug = uniqueSlug("race");
      const answers = await Promise.all([createWorkspace(owner.token, { slug }), createWorkspace(owner.token, { slug }, { env: EU })]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      expect((await rowsWithSlug(env.DB, slug)) + (await rowsWithSlug(env.DB_EU, slug))).toBe(1);
      const winner = answers.find((a) => a.status === 201)!;
      expect(await slugObject(slug).holder()).toMatchObject({ workspaceId: winner.body.id, region: winner.body.region, confirmed: true });
    }
  });

  it("keeps an archived workspace's slug: no region can take it", async () => {
    const owner = await mintIdentity();
    const slug = uniqueSlug("kept");
    const created = await createWorkspace(owner.token, { slug });
    const archived = await call("POST", `/v1/workspaces/${created.body.id}/archive`, { token: owner.token, body: { slug } });
    expect(archived.status).toBe(200);
    for (const options of [{}, { env: EU }]) {
      const again = await createWorkspace<ErrorBody>(owner.token, { slug }, options);
      expect(again.status).toBe(409);
      expect(again.body.error_code).toBe("slug_taken");
    }
  });
});

describe("the registry unavailable, or a create failing after its reservation", () => {
  it.each(["reserve", "confirm"] as const)(
    "answers 503 with Retry-After when the registry cannot %s, leaving nothing written and the slug free",
    async (failing) => {
      const owner = await mintIdentity();
      const slug = uniqueSlug(`no-${failing}`);
      const directoryBefore = await kvKeyCount("workspace-region:");
      const res = await createWorkspace<ErrorBody>(owner.token, { slug }, { env: { SLUGS: faultySlugs([failing]) } });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(res.body.error_code).toBe("service_unavailable");
      await expectConformant("POST", "/v1/me/workspaces", res);
      expect(await rowsWithSlug(env.DB, slug)).toBe(0);
      expect(await eventsForSlug(env.DB, slug)).toBe(0);
      expect(await kvKeyCount("workspace-region:")).toBe(directoryBefore);
      expect(await slugObject(slug).holder()).toBeNull();
      // the slug is free in every region
      expect((await createWorkspace(owner.token, { slug }, { env: EU })).status).toBe(201);
    },
  );

  it("releases the reservation when the regional batch fails, so another region can take the slug", async () => {
    const owner = await mintIdentity();
    const slug = uniqueSlug("nobatch");
    const res = await createWorkspace(owner.token, { slug }, { env: { DB: faultyD1() } });
    expect(res.status).toBe(503);
    expect(await slugObject(slug).holder()).toBeNull();
    expect((await createWorkspace(owner.token, { slug }, { env: EU })).status).toBe(201);
  });

  it("refuses (409) a slug a workspace from before the registry holds in this region, and releases it", async () => {
    const owner = await mintIdentity();
    const slug = uniqueSlug("legacy");
    const created = await createWorkspace(owner.token, { slug });
    // as if the row predated the registry: its slug was never reserved there
    const object = slugObject(slug);
    expect(await object.holder()).toMatchObject({ workspaceId: created.body.id, confirmed: true });
    await runInDurableObject(object, (_instance, state) => state.storage.deleteAll());
    const again = await createWorkspace<ErrorBody>(owner.token, { slug });
    expect(again.status).toBe(409);
    expect(again.body.error_code).toBe("slug_taken");
    expect(await slugObject(slug).holder()).toBeNull();
  });
});

/** Sets the object's clock to `at`, so "later" in a test is a number, not a wait on a loaded machine. */
const setClock = (object: DurableObjectStub<SlugRegistry>, at: number) =>
  runInDurableObject(object, (instance: SlugRegistry) => {
    instance.now = () => at;
  });

describe("the registry object", () => {
  it("holds an unconfirmed reservation against others until it expires, then the alarm drops it", async () => {
    const slug = uniqueSlug("alarm");
    const object = slugObject(slug);
    const start = Date.now();
    await setClock(object, start);
    expect(await object.reserve("workspace-a", "us-east-1")).toEqual({ reserved: true });
    expect(await object.reserve("workspace-a", "us-east-1")).toEqual({ reserved: true });
    expect(await object.reserve("workspace-b", "eu-central-1")).toEqual({ reserved: false, region: "us-east-1" });
    const owner = await mintIdentity();
    expect((await createWorkspace(owner.token, { slug })).status).toBe(409);

    // an alarm run before the hold's time keeps it; the alarm at its time drops it, and the object then
    // stores nothing
    await setClock(object, start + RESERVATION_TTL_MS - 1);
    expect(await runDurableObjectAlarm(object)).toBe(true);
    expect(await object.holder()).toMatchObject({ workspaceId: "workspace-a", confirmed: false });
    await setClock(object, start + RESERVATION_TTL_MS);
    expect(await runDurableObjectAlarm(object)).toBe(true);
    expect(await object.holder()).toBeNull();
    expect(await runDurableObjectAlarm(object)).toBe(false);
    expect((await createWorkspace(owner.token, { slug })).status).toBe(201);
  });

  it("lets an expired hold be taken, and then refuses to confirm it for the workspace that lost it", async () => {
    const object = slugObject(uniqueSlug("lost"));
    const start = Date.now();
    await setClock(object, start);
    expect(await object.reserve("workspace-a", "us-east-1")).toEqual({ reserved: true });
    await setClock(object, start + RESERVATION_TTL_MS);
    expect(await object.reserve("workspace-b", "eu-central-1")).toEqual({ reserved: true });
    expect(await object.confirm("workspace-a", "us-east-1")).toBe(false);
    expect(await object.confirm("workspace-b", "eu-central-1")).toBe(true);
    await object.release("workspace-b");
    expect(await object.holder()).toMatchObject({ workspaceId: "workspace-b", confirmed: true });
    expect(await runDurableObjectAlarm(object)).toBe(false);
  });

  it("confirms a hold of its own that expired unseen, and releases only an unconfirmed hold of the caller's", async () => {
    const object = slugObject(uniqueSlug("late"));
    const start = Date.now();
    await setClock(object, start);
    expect(await object.reserve("workspace-a", "us-east-1")).toEqual({ reserved: true });
    await object.release("workspace-b");
    expect(await object.holder()).toMatchObject({ workspaceId: "workspace-a" });
    await setClock(object, start + RESERVATION_TTL_MS + 1);
    expect(await object.confirm("workspace-a", "us-east-1")).toBe(true);
    expect(await object.holder()).toMatchObject({ workspaceId: "workspace-a", confirmed: true });
    expect(await runDurableObjectAlarm(object)).toBe(false);
  });
});
