/**
 * Two regions in one process, as production runs them (scripts/artifact.mjs startRegions): the bundle
 * `wrangler deploy --dry-run` builds, run by Miniflare as `platform-control-plane-us-east-1` and
 * `platform-control-plane-eu-central-1` with each environment's bindings from wrangler.toml. Each has its
 * own D1; they share the KV namespace and the slug registry's Durable Objects (hosted by us-east-1, bound
 * by script_name from eu-central-1).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArtifact, startRegions } from "../../scripts/artifact.mjs";

const US = "us-east-1";
const EU = "eu-central-1";
const ADMIN_TOKEN = "multi-region-admin-token-0123456789";
let regions: Awaited<ReturnType<typeof startRegions>>;

type Answer<Body> = { status: number; headers: Headers; body: Body };

/** One request to a region's Worker; the body typed as the test names it (it reads the success's fields, or an error's). */
async function call<Body = Record<string, string>>(
  region: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Answer<Body>> {
  const res = await fetch(new URL(path, await regions.urlOf(region)), {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

let slugCounter = 0;
const uniqueSlug = (prefix: string) => `${prefix}-${++slugCounter}-${Date.now().toString(36)}`;

async function identityToken(region: string): Promise<string> {
  const minted = await call(region, "POST", "/admin/identities", ADMIN_TOKEN, { email: `${uniqueSlug("person")}@example.com` });
  expect(minted.status).toBe(201);
  return minted.body.token;
}

const create = (region: string, token: string, slug: string) =>
  call(region, "POST", "/v1/me/workspaces", token, { slug, name: slug, environment: "staging" });

beforeAll(async () => {
  regions = await startRegions({ outdir: await buildArtifact(US), environments: [US, EU], secrets: { ADMIN_TOKEN } });
}, 180_000);

afterAll(async () => {
  await regions?.dispose();
});

describe("two regions, one namespace", () => {
  it("serves a workspace in its own region and answers 421 with that region from the other", async () => {
    // an identity minted in one region signs in everywhere: its record is in the shared KV
    const token = await identityToken(US);
    const created = await create(US, token, uniqueSlug("home"));
    expect(created.status).toBe(201);
    expect(created.body.region).toBe(US);
    expect((await call(US, "GET", `/v1/workspaces/${created.body.id}`, token)).status).toBe(200);
    const elsewhere = await call(EU, "GET", `/v1/workspaces/${created.body.id}`, token);
    expect(elsewhere.status).toBe(421);
    expect(elsewhere.body).toMatchObject({ error_code: "misdirected_request", region: US });

    const euCreated = await create(EU, token, uniqueSlug("home-eu"));
    expect(euCreated.status).toBe(201);
    expect(euCreated.body.region).toBe(EU);
    expect((await call(US, "GET", `/v1/workspaces/${euCreated.body.id}`, token)).body).toMatchObject({
      error_code: "misdirected_request",
      region: EU,
    });
  });

  it("refuses in one region the slug of a workspace in the other (409 slug_taken), both ways", async () => {
    const token = await identityToken(EU);
    for (const [first, second] of [
      [US, EU],
      [EU, US],
    ]) {
      const slug = uniqueSlug("taken");
      expect((await create(first!, token, slug)).status).toBe(201);
      const again = await create(second!, token, slug);
      expect(again.status).toBe(409);
      expect(again.body.error_code).toBe("slug_taken");
    }
  });

  it("gives exactly one 201 when both regions create one slug at the same moment", async () => {
    const token = await identityToken(US);
    for (let round = 0; round < 5; round++) {
      const slug = uniqueSlug("race");
      const answers = await Promise.all([create(US, token, slug), create(EU, token, slug)]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    }
  });

  it("refuses with 421 in one region a key made in the other, and a revocation in one is seen in the other", async () => {
    const token = await identityToken(US);
    const workspace = await create(US, token, uniqueSlug("keys"));
    const key = await call(US, "POST", `/v1/${workspace.body.id}/api-keys`, token, { duration_days: 1, role: "viewer" });
    expect(key.status).toBe(201);
    expect((await call(US, "GET", `/v1/workspaces/${workspace.body.id}`, key.body.api_key)).status).toBe(200);
    const misdirected = await call(EU, "GET", `/v1/workspaces/${workspace.body.id}`, key.body.api_key);
    expect(misdirected.status).toBe(421);
    expect(misdirected.body).toMatchObject({ error_code: "misdirected_request", region: US });

    expect((await call(US, "DELETE", `/v1/${workspace.body.id}/api-keys/${key.body.key_id}`, token)).status).toBe(204);
    for (const region of [EU, US]) {
      const refused = await call(region, "GET", "/v1/auth/me", key.body.api_key);
      expect(refused.status, region).toBe(401);
    }
  });

  it("answers each region's bookmark with its own region, and a read in the other region ignores it", async () => {
    const token = await identityToken(US);
    const created = await create(US, token, uniqueSlug("bookmark"));
    const bookmark = created.headers.get("x-d1-bookmark");
    expect(bookmark).toMatch(/^us-east-1:/);
    const res = await fetch(new URL("/v1/workspaces", await regions.urlOf(EU)), {
      headers: { authorization: `Bearer ${token}`, "x-d1-bookmark": bookmark! },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-d1-bookmark")).toMatch(/^eu-central-1:/);
  });

  it("keeps a workspace's audit trail in its own region's store: the other region's store has none of it", async () => {
    const token = await identityToken(EU);
    const workspace = await create(EU, token, uniqueSlug("trail"));
    const key = await call(EU, "POST", `/v1/${workspace.body.id}/api-keys`, token, { duration_days: 1, role: "viewer" });
    expect(key.status).toBe(201);
    const trail = await call<{ total: number; events: { action: string }[] }>(EU, "GET", `/v1/${workspace.body.id}/audit`, token);
    expect(trail.body.events.map((e) => e.action)).toEqual(["api_key.created", "workspace.created"]);
    expect((await call(US, "GET", `/v1/${workspace.body.id}/audit`, token)).status).toBe(421);

    // Each regional Worker hosts its own AUDIT_STORE namespace (wrangler.toml): look into both.
    const heldBy = async (region: string) => {
      const namespace = await regions.mf.getDurableObjectNamespace("AUDIT_STORE", `platform-control-plane-${region}`);
      const year = new Date().getUTCFullYear();
      const store = namespace.get(namespace.idFromName(`${workspace.body.id}:${year}`)) as unknown as {
        stats(): Promise<{ events: number }>;
      };
      return (await store.stats()).events;
    };
    expect(await heldBy(EU)).toBe(2);
    expect(await heldBy(US)).toBe(0);
  });
});
