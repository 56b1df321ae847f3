/**
 * Model-based test of the key and workspace lifecycle: random sequences of create / use / rotate / delete /
 * list / archive, run against the API and against an in-memory model; every status code and every key's
 * validity must agree with the model after every step.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import { MEMBERSHIP_ROLES, type MembershipRole } from "../../../src/core/domain";
import type { ApiKeyPage, CreatedApiKey } from "../../harness/bodies";
import { call } from "../../harness/call";
import { type MintedIdentity, ownedWorkspace } from "../../harness/seed";

type ModelKey = { keyId: string; secret: string; revoked: boolean };
type Model = { keys: ModelKey[]; archived: boolean };
type Real = { owner: MintedIdentity; workspaceId: string; slug: string };

async function expectSecretValid(secret: string, valid: boolean) {
  expect((await call("GET", "/v1/auth/me", { token: secret })).status).toBe(valid ? 200 : 401);
}

class CreateKey implements fc.AsyncCommand<Model, Real> {
  constructor(readonly role: MembershipRole) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const res = await call<CreatedApiKey>("POST", `/v1/${r.workspaceId}/api-keys`, {
      token: r.owner.token,
      body: { duration_days: 1, role: this.role },
    });
    if (m.archived) return expect(res.status).toBe(404);
    expect(res.status).toBe(201);
    m.keys.push({ keyId: res.body.key_id, secret: res.body.api_key, revoked: false });
  }
  toString = () => `create(${this.role})`;
}

class UseKey implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.keys.length > 0;
  async run(m: Model, _r: Real) {
    const key = m.keys[this.index % m.keys.length]!;
    await expectSecretValid(key.secret, !key.revoked);
  }
  toString = () => `use(${this.index})`;
}

class RotateKey implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.keys.length > 0;
  async run(m: Model, r: Real) {
    const key = m.keys[this.index % m.keys.length]!;
    const res = await call<CreatedApiKey>("POST", `/v1/${r.workspaceId}/api-keys/${key.keyId}/rotate`, {
      token: r.owner.token,
      body: { duration_days: 2 },
    });
    if (key.revoked || m.archived) return expect(res.status).toBe(404);
    expect(res.status).toBe(200);
    await expectSecretValid(key.secret, false);
    key.secret = res.body.api_key;
  }
  toString = () => `rotate(${this.index})`;
}

class DeleteKey implements fc.AsyncCommand<Model, Real> {
  constructor(readonly index: number) {}
  check = (m: Readonly<Model>) => m.keys.length > 0;
  async run(m: Model, r: Real) {
    const key = m.keys[this.index % m.keys.length]!;
    const res = await call("DELETE", `/v1/${r.workspaceId}/api-keys/${key.keyId}`, { token: r.owner.token });
    if (key.revoked || m.archived) return expect(res.status).toBe(404);
    expect(res.status).toBe(204);
    key.revoked = true;
  }
  toString = () => `delete(${this.index})`;
}

class ListKeys implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    const res = await call<ApiKeyPage>("GET", `/v1/${r.workspaceId}/api-keys?limit=100`, { token: r.owner.token });
    expect(res.status).toBe(200);
    const live = m.keys.filter((k) => !k.revoked).map((k) => k.keyId);
    expect(res.body.items.map((k) => k.key_id).sort()).toEqual(live.sort());
    expect(res.body.total).toBe(live.length);
  }
  toString = () => "list";
}

class Archive implements fc.AsyncCommand<Model, Real> {
  // Late in a run, so most sequences exercise the live workspace first.
  check = (m: Readonly<Model>) => m.keys.length >= 3;
  async run(m: Model, r: Real) {
    const res = await call("POST", `/v1/workspaces/${r.workspaceId}/archive`, { token: r.owner.token, body: { slug: r.slug } });
    expect(res.status).toBe(200);
    m.archived = true;
    for (const key of m.keys) key.revoked = true;
  }
  toString = () => "archive";
}

const commands = [
  fc.constantFrom(...MEMBERSHIP_ROLES).map((role) => new CreateKey(role)),
  fc.nat(20).map((i) => new UseKey(i)),
  fc.nat(20).map((i) => new RotateKey(i)),
  fc.nat(20).map((i) => new DeleteKey(i)),
  fc.constant(new ListKeys()),
  fc.constant(new Archive()),
];

it("agrees with the model on every status and key validity", async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 15 }), async (cmds) => {
      const { owner, workspaceId, slug } = await ownedWorkspace();
      await fc.asyncModelRun(() => ({ model: { keys: [], archived: false }, real: { owner, workspaceId, slug } }), cmds);
    }),
    { numRuns: 40 },
  );
}, 120_000);
