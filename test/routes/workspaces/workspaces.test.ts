import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { SECRET_PREFIXES } from "../../../src/core/token-format";
import { PURGE_BUDGET } from "../../../src/routes/api-keys/service";
import { generateSecret, sha256Hex } from "../../../src/security/secret";
import type { EnvironmentCheck, Provisioned, TestCallerNumbers, Workspace, WorkspacePage } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import {
  addMember,
  apiKeyWithRole,
  createWorkspace,
  type MintedIdentity,
  mintIdentity,
  ownedWorkspace,
  uniqueSlug,
} from "../../harness/seed";
import { countingKV, faultyKV, interceptD1 } from "../../harness/storage";

const WS = "/v1/workspaces/{workspace_id}";
let owner: MintedIdentity;
let workspaceId: string;
let slug: string;

beforeAll(async () => {
  owner = await mintIdentity();
  slug = uniqueSlug();
  const res = await createWorkspace(owner.token, { slug, environment: "staging" });
  workspaceId = res.body.id;
});

const patch = <Body = Workspace>(id: string, token: string, body: unknown) => call<Body>("PATCH", `/v1/workspaces/${id}`, { token, body });

describe("GET /v1/workspaces/{workspace_id}", () => {
  it("returns the workspace to a member and to its own key", async () => {
    const res = await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: workspaceId, slug, environment: "staging", region: "us-east-1" });
    await expectConformant("GET", WS, res);
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    expect((await call<Workspace>("GET", `/v1/workspaces/${workspaceId}`, { token: secret })).body.id).toBe(workspaceId);
  });

  it("answers unknown 404, malformed 422, non-member 403, other workspace's key 403", async () => {
    const unknown = await call("GET", `/v1/workspaces/${crypto.randomUUID()}`, { token: owner.token });
    expect(unknown.status).toBe(404);
    await expectConformant("GET", WS, unknown);
    const malformed = await call<ValidationErrorBody>("GET", "/v1/workspaces/nope", { token: owner.token });
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0]?.loc).toEqual(["path", "workspace_id"]);
    const stranger = await mintIdentity();
    expect((await call("GET", `/v1/workspaces/${workspaceId}`, { token: stranger.token })).status).toBe(403);
    const other = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(other.owner.token, other.workspaceId, "owner");
    const foreign = await call("GET", `/v1/workspaces/${workspaceId}`, { token: secret });
    expect(foreign.status).toBe(403);
    expect(foreign.text).not.toContain(slug);
  });
});

describe("PATCH /v1/workspaces/{workspace_id}", () => {
  it("applies only the fields sent and moves updated_at", async () => {
    const { workspaceId: id, owner: o } = await ownedWorkspace();
    const before = (await call<Workspace>("GET", `/v1/workspaces/${id}`, { token: o.token })).body;
    await new Promise((r) => setTimeout(r, 5));
    const renamed = await patch(id, o.token, { name: "  Renamed  " });
    expect(renamed.status).toBe(200);
    await expectConformant("PATCH", WS, renamed);
    expect(renamed.body).toMatchObject({ name: "Renamed", environment: before.environment, connector_type: null, slug: before.slug });
    expect(Date.parse(renamed.body.updated_at)).toBeGreaterThan(Date.parse(before.updated_at));
    expect(renamed.body.created_at).toBe(before.created_at);

    const withConnector = await patch(id, o.token, { connector_type: "epic" });
    expect(withConnector.body).toMatchObject({ name: "Renamed", connector_type: "epic" });
    const cleared = await patch(id, o.token, { connector_type: null, name: null });
    expect(cleared.body).toMatchObject({ name: "Renamed", connector_type: null });
  });

  it("ignores unknown and server-owned fields", async () => {
    const res = await patch(workspaceId, owner.token, {
      slug: "hijack",
      id: crypto.randomUUID(),
      created_at: "2000-01-01T00:00:00Z",
      provisioned_at: "2000-01-01T00:00:00Z",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: workspaceId, slug, provisioned_at: null });
  });

  it.each([
    ["a region", { region: "eu-central-1" }, ["body", "region"]],
    ["a null region", { region: null }, ["body", "region"]],
    ["an unknown connector", { connector_type: "sap" }, ["body", "connector_type"]],
    ["an empty name", { name: "  " }, ["body", "name"]],
    ["an environment change", { environment: "production" }, ["body", "environment"]],
  ])("rejects %s with 422 and changes nothing", async (_, body, loc) => {
    const before = (await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token })).body;
    const res = await patch<ValidationErrorBody>(workspaceId, owner.token, body);
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(expect.objectContaining({ loc }));
    await expectConformant("PATCH", WS, res);
    expect((await call("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token })).body).toEqual(before);
  });

  it("accepts the current environment as a no-op", async () => {
    const res = await patch(workspaceId, owner.token, { environment: "staging" });
    expect(res.status).toBe(200);
    expect(res.body.environment).toBe("staging");
  });
});

describe("POST .../provision", () => {
  it("sets provisioned_at once and is idempotent", async () => {
    const { workspaceId: id, owner: o } = await ownedWorkspace();
    const first = await call<Provisioned>("POST", `/v1/workspaces/${id}/provision`, { token: o.token });
    expect(first.status).toBe(200);
    await expectConformant("POST", `${WS}/provision`, first);
    expect(first.body.workspace.provisioned_at).toEqual(expect.any(String));
    const second = await call<Provisioned>("POST", `/v1/workspaces/${id}/provision`, { token: o.token });
    expect(second.body.workspace.provisioned_at).toBe(first.body.workspace.provisioned_at);
    expect(second.body.workspace.updated_at).toBe(first.body.workspace.updated_at);
  });
});

describe("environment check and conversion", () => {
  it("lists concrete warnings and changes nothing", async () => {
    const { workspaceId: id, owner: o } = await ownedWorkspace(); // staging
    await apiKeyWithRole(o.token, id, "viewer");
    await call("PUT", `/v1/workspaces/${id}/test-caller-numbers`, { token: o.token, body: { numbers: ["+14155550100"] } });
    await call("PUT", `/v1/workspaces/${id}/test-credential-ids`, { token: o.token, body: { credential_ids: [crypto.randomUUID()] } });
    const before = (await call("GET", `/v1/workspaces/${id}`, { token: o.token })).body;

    const res = await call<EnvironmentCheck>("GET", `/v1/workspaces/${id}/environment-check?target=production`, { token: o.token });
    expect(res.status).toBe(200);
    await expectConformant("GET", `${WS}/environment-check`, res);
    expect(res.body.current).toBe("staging");
    expect(res.body.target).toBe("production");
    expect(res.body.warnings).toHaveLength(3);
    expect(res.body.warnings.join("\n")).toMatch(/1 active API key\(s\) were created while the workspace was staging/);
    expect(res.body.warnings.join("\n")).toMatch(/1 test caller number/);
    expect(res.body.warnings.join("\n")).toMatch(/1 test credential id/);
    expect((await call("GET", `/v1/workspaces/${id}`, { token: o.token })).body).toEqual(before);

    const same = await call<EnvironmentCheck>("GET", `/v1/workspaces/${id}/environment-check?target=staging`, { token: o.token });
    expect(same.body.warnings).toEqual(["The workspace is already in staging: converting changes nothing."]);
    expect((await call<EnvironmentCheck>("GET", `/v1/workspaces/${id}/environment-check`, { token: o.token })).body.target).toBe(
      "production",
    );
    expect((await call("GET", `/v1/workspaces/${id}/environment-check?target=development`, { token: o.token })).status).toBe(422);
  });

  it("converts after the slug matches; 422 otherwise; the current environment is a no-op", async () => {
    const { workspaceId: id, owner: o } = await ownedWorkspace();
    const current = (await call<Workspace>("GET", `/v1/workspaces/${id}`, { token: o.token })).body;
    const wrong = await call<ValidationErrorBody>("POST", `/v1/workspaces/${id}/convert-environment`, {
      token: o.token,
      body: { target: "production", confirm_slug: "not-it" },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.detail[0]).toMatchObject({ loc: ["body", "confirm_slug"], msg: "Workspace slug confirmation did not match." });
    await expectConformant("POST", `${WS}/convert-environment`, wrong);

    const converted = await call<Workspace>("POST", `/v1/workspaces/${id}/convert-environment`, {
      token: o.token,
      body: { target: "production", confirm_slug: current.slug },
    });
    expect(converted.status).toBe(200);
    await expectConformant("POST", `${WS}/convert-environment`, converted);
    expect(converted.body.environment).toBe("production");
    const again = await call<Workspace>("POST", `/v1/workspaces/${id}/convert-environment`, {
      token: o.token,
      body: { target: "production", confirm_slug: current.slug },
    });
    expect(again.body.updated_at).toBe(converted.body.updated_at);
    const check = await call<EnvironmentCheck>("GET", `/v1/workspaces/${id}/environment-check?target=staging`, { token: o.token });
    expect(check.body.warnings.join("\n")).toMatch(/production to staging/);
  });

  it("refuses to convert a development workspace", async () => {
    const o = await mintIdentity();
    const dev = await createWorkspace(o.token, { environment: "development" });
    const check = await call<EnvironmentCheck>("GET", `/v1/workspaces/${dev.body.id}/environment-check?target=staging`, { token: o.token });
    expect(check.body.warnings).toEqual(["Development workspaces cannot be converted: create a staging or production workspace instead."]);
    const res = await call<ValidationErrorBody>("POST", `/v1/workspaces/${dev.body.id}/convert-environment`, {
      token: o.token,
      body: { target: "staging", confirm_slug: dev.body.slug },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]?.loc).toEqual(["body", "target"]);
  });
});

describe("test allowlists", () => {
  it("stores E.164 numbers de-duplicated and returns them", async () => {
    const res = await call("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, {
      token: owner.token,
      body: { numbers: ["+14155550100", "+442071838750", "+14155550100"] },
    });
    expect(res.status).toBe(200);
    await expectConformant("PUT", `${WS}/test-caller-numbers`, res);
    expect(res.body).toEqual({ numbers: ["+14155550100", "+442071838750"] });
    const got = await call("GET", `/v1/workspaces/${workspaceId}/test-caller-numbers`, { token: owner.token });
    expect(got.body).toEqual(res.body);
    await expectConformant("GET", `${WS}/test-caller-numbers`, got);
    expect(
      (await call("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, { token: owner.token, body: { numbers: [] } })).body,
    ).toEqual({ numbers: [] });
  });

  it.each([
    ["no plus sign", ["14155550100"]],
    ["a leading zero", ["+04155550100"]],
    ["spaces", ["+1 415 555 0100"]],
    ["letters", ["+1415555CALL"]],
  ])("rejects a number with %s, saying what a number must be", async (_, numbers) => {
    const res = await call<ValidationErrorBody>("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, {
      token: owner.token,
      body: { numbers },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({
      loc: ["body", "numbers", 0],
      type: "string_pattern_mismatch",
      msg: expect.stringContaining("An E.164 phone number: '+', then 2 to 15 digits"),
      ctx: { pattern: "^\\+[1-9]\\d{1,14}$" },
    });
    await expectConformant("PUT", `${WS}/test-caller-numbers`, res);
  });

  it("rejects 16 digits as too long for an E.164 number", async () => {
    const res = await call<ValidationErrorBody>("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, {
      token: owner.token,
      body: { numbers: ["+1234567890123456"] },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", "numbers", 0], type: "string_too_long" });
  });

  it("accepts 100 numbers and rejects 101", async () => {
    const numbers = (n: number) => Array.from({ length: n }, (_, i) => `+1415555${String(i).padStart(4, "0")}`);
    expect(
      (
        await call<TestCallerNumbers>("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, {
          token: owner.token,
          body: { numbers: numbers(100) },
        })
      ).body.numbers,
    ).toHaveLength(100);
    const tooMany = await call<ValidationErrorBody>("PUT", `/v1/workspaces/${workspaceId}/test-caller-numbers`, {
      token: owner.token,
      body: { numbers: numbers(101) },
    });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail[0]).toMatchObject({ loc: ["body", "numbers"], type: "too_long" });
  });

  it("stores credential uuids lower-cased and de-duplicated; rejects non-uuids and 101 entries", async () => {
    const id = crypto.randomUUID();
    const res = await call("PUT", `/v1/workspaces/${workspaceId}/test-credential-ids`, {
      token: owner.token,
      body: { credential_ids: [id.toUpperCase(), id] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ credential_ids: [id] });
    await expectConformant("PUT", `${WS}/test-credential-ids`, res);
    const got = await call("GET", `/v1/workspaces/${workspaceId}/test-credential-ids`, { token: owner.token });
    expect(got.body).toEqual({ credential_ids: [id] });
    await expectConformant("GET", `${WS}/test-credential-ids`, got);
    expect(
      (await call("PUT", `/v1/workspaces/${workspaceId}/test-credential-ids`, { token: owner.token, body: { credential_ids: ["nope"] } }))
        .status,
    ).toBe(422);
    const many = Array.from({ length: 101 }, () => crypto.randomUUID());
    expect(
      (await call("PUT", `/v1/workspaces/${workspaceId}/test-credential-ids`, { token: owner.token, body: { credential_ids: many } }))
        .status,
    ).toBe(422);
  });
});

describe("POST .../archive", () => {
  it("owner only, slug confirmed; leaves listings, revokes keys, keeps the slug; repeatable", async () => {
    const o = await mintIdentity();
    const created = await createWorkspace(o.token);
    const { id, slug: s } = created.body;
    const admin = await mintIdentity();
    await addMember(id, admin, "admin");
    const key = await apiKeyWithRole(o.token, id, "owner");

    const byAdmin = await call("POST", `/v1/workspaces/${id}/archive`, { token: admin.token, body: { slug: s } });
    expect(byAdmin.status).toBe(403);
    const byOwnerKey = await call<ValidationErrorBody>("POST", `/v1/workspaces/${id}/archive`, {
      token: key.secret,
      body: { slug: "wrong-slug" },
    });
    expect(byOwnerKey.status).toBe(422);
    expect(byOwnerKey.body.detail[0]).toMatchObject({ loc: ["body", "slug"], msg: "Workspace slug confirmation did not match." });
    await expectConformant("POST", `${WS}/archive`, byOwnerKey);

    const archived = await call<Workspace>("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s } });
    expect(archived.status).toBe(200);
    await expectConformant("POST", `${WS}/archive`, archived);
    expect(archived.body.id).toBe(id);

    // keys stop working
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(401);
    // gone from every listing
    const listed = await call<WorkspacePage>("GET", "/v1/workspaces?limit=100", { token: o.token });
    expect(listed.body.items.map((w) => w.id)).not.toContain(id);
    expect((await call<WorkspacePage>("GET", "/v1/workspaces?limit=100", { token: admin.token })).body.items).toEqual([]);
    // owner may still read it; the admin member gets 404; writes get 404
    expect((await call("GET", `/v1/workspaces/${id}`, { token: o.token })).status).toBe(200);
    expect((await call("GET", `/v1/workspaces/${id}`, { token: admin.token })).status).toBe(404);
    expect((await patch(id, o.token, { name: "still here?" })).status).toBe(404);
    expect((await call("POST", `/v1/${id}/api-keys`, { token: o.token, body: { duration_days: 1 } })).status).toBe(404);
    // slug stays reserved
    expect((await createWorkspace(o.token, { slug: s })).status).toBe(409);
    // repeat archive returns the archived workspace
    const again = await call<Workspace>("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s } });
    expect(again.status).toBe(200);
    expect(again.body.updated_at).toBe(archived.body.updated_at);
  });

  it("answers 503 when KV fails, and a repeated archive finishes revoking the keys", async () => {
    const { workspaceId: id, owner: o, slug: s } = await ownedWorkspace();
    const key = await apiKeyWithRole(o.token, id, "viewer");
    const failed = await call("POST", `/v1/workspaces/${id}/archive`, {
      token: o.token,
      body: { slug: s },
      env: { KV: faultyKV(["delete"]) },
    });
    expect(failed.status).toBe(503);
    expect((await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s } })).status).toBe(200);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(401);
  });
});

describe("archive failing before it commits", () => {
  it("answers 503 and changes nothing when the revocation marker cannot be written", async () => {
    const { workspaceId: id, owner: o, slug: s } = await ownedWorkspace();
    const key = await apiKeyWithRole(o.token, id, "viewer");
    const res = await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s }, env: { KV: faultyKV(["put"]) } });
    expect(res.status).toBe(503);
    await expectConformant("POST", `${WS}/archive`, res);
    expect((await call<WorkspacePage>("GET", "/v1/workspaces?limit=100", { token: o.token })).body.items.map((w) => w.id)).toContain(id);
    expect((await call("GET", `/v1/workspaces/${id}`, { token: key.secret })).status).toBe(200);
  });

  it("takes the marker back when the D1 batch fails, so the keys keep working", async () => {
    const { workspaceId: id, owner: o, slug: s } = await ownedWorkspace();
    const key = await apiKeyWithRole(o.token, id, "viewer");
    const DB = interceptD1(async (sql, proceed) => {
      if (sql.startsWith('update "workspaces"')) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    });
    expect((await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s }, env: { DB } })).status).toBe(503);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
    expect((await call("GET", `/v1/workspaces/${id}`, { token: key.secret })).status).toBe(200);
  });
});

describe("archive of a workspace with many keys", () => {
  async function seedKeys(workspaceId: string, count: number) {
    const now = new Date().toISOString();
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const keys = await Promise.all(
      Array.from({ length: count }, async () => {
        const secret = generateSecret(SECRET_PREFIXES.api_key);
        return { id: crypto.randomUUID(), keyId: `key_${crypto.randomUUID().slice(0, 16)}`, secret, hash: await sha256Hex(secret) };
      }),
    );
    await env.DB.batch(
      keys.map((k) =>
        env.DB.prepare(
          "insert into api_keys (id, key_id, workspace_id, role, permissions, key_hash, environment, expires_at, created_at, " +
            "updated_at) values (?, ?, ?, 'viewer', '[\"Workspace.view\"]', ?, 'staging', ?, ?, ?)",
        ).bind(k.id, k.keyId, workspaceId, k.hash, expires, now, now),
      ),
    );
    await Promise.all(
      keys.map((k) =>
        env.KV.put(
          `wsk:${k.hash}`,
          JSON.stringify({
            type: "api_key",
            id: k.id,
            key_id: k.keyId,
            workspace_id: workspaceId,
            region: "us-east-1",
            role: "viewer",
            permissions: ["Workspace.view"],
            name: null,
            expires_at: expires,
            created_by_entity_id: null,
          }),
        ),
      ),
    );
    return keys;
  }
  const liveRecords = async (keys: { hash: string }[]) =>
    (await Promise.all(keys.map((k) => env.KV.get(`wsk:${k.hash}`)))).filter((v) => v !== null).length;

  it("resumes after a KV failure without deleting again what was done", async () => {
    const { workspaceId: id, owner: o, slug: s } = await ownedWorkspace();
    const keys = await seedKeys(id, 100);
    // the first round of 90 deletes completes, the second fails after 5
    const failing = faultyKV(["delete"], "KV DELETE failed: 500 Internal Server Error", { after: 95 });
    expect((await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s }, env: { KV: failing } })).status).toBe(
      503,
    );
    const { kv, calls } = countingKV();
    expect((await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s }, env: { KV: kv } })).status).toBe(200);
    expect(calls.delete).toBe(10);
    expect(await liveRecords(keys)).toBe(0);
  });

  it("stays within the per-request KV budget and finishes on the next request", async () => {
    const { workspaceId: id, owner: o, slug: s } = await ownedWorkspace();
    const keys = await seedKeys(id, PURGE_BUDGET + 30);
    const { kv, calls } = countingKV();
    const first = await call<ErrorBody>("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s }, env: { KV: kv } });
    expect(first.status).toBe(503);
    expect(first.headers.get("retry-after")).toBe("1");
    expect(first.body.detail).toContain("the records of 30 key(s) are still to be deleted");
    expect(calls.delete).toBe(PURGE_BUDGET);
    // already archived: it has left the listings even before the keys are all gone
    expect((await call<WorkspacePage>("GET", "/v1/workspaces?limit=100", { token: o.token })).body.items.map((w) => w.id)).not.toContain(
      id,
    );
    const second = await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s } });
    expect(second.status).toBe(200);
    expect(await liveRecords(keys)).toBe(0);
  });
});

describe("regions", () => {
  it("answers 421 with the owning region for every workspace route served by another region", async () => {
    const eu = { REGION: "eu-central-1" as const, DB: env.DB_EU };
    for (const [method, path] of [
      ["GET", `/v1/workspaces/${workspaceId}`],
      ["POST", `/v1/workspaces/${workspaceId}/provision`],
      ["GET", `/v1/workspaces/${workspaceId}/test-caller-numbers`],
    ] as const) {
      const res = await call(method, path, { token: owner.token, env: eu });
      expect(res.status, `${method} ${path}`).toBe(421);
      expect(res.body).toMatchObject({ error_code: "misdirected_request", region: "us-east-1" });
    }
    // and a workspace created in eu-central-1 is served there, and misdirected from us-east-1
    const euWorkspace = await createWorkspace(owner.token, {}, { env: eu });
    expect(euWorkspace.body.region).toBe("eu-central-1");
    expect((await call("GET", `/v1/workspaces/${euWorkspace.body.id}`, { token: owner.token, env: eu })).status).toBe(200);
    const misdirected = await call<ErrorBody>("GET", `/v1/workspaces/${euWorkspace.body.id}`, { token: owner.token });
    expect(misdirected.status).toBe(421);
    expect(misdirected.body.region).toBe("eu-central-1");
    await expectConformant("GET", WS, misdirected);
  });
});
