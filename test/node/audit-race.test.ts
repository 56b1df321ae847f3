/**
 * The trail and the answers agree, against a running server (the built artefact in Miniflare): a member
 * creates keys while the owner demotes them, removes them or archives the workspace. A create that lost
 * the race after its key was written answers 409/404 (the client gets no key), and the trail then shows
 * that key's creation and its revocation, the revocation naming the request that revoked it
 * (docs/guides/audit.md, "What a refused request records"). Every other refused create records nothing;
 * every created key's creation is recorded once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArtifact, startArtifact } from "../../scripts/artifact.mjs";

const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "race-admin-token-0123456789abcdef0123";
const CREATES_PER_ROUND = 8;
const ROUNDS_PER_KIND = 3;
let worker: Awaited<ReturnType<typeof startArtifact>>;

type Answer = { status: number; requestId: string; body: Record<string, unknown> };
type Event = { action: string; resource_id: string | null; metadata: Record<string, unknown> | null };

async function call(method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  const res = await worker.mf.dispatchFetch(`${worker.url.origin}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get("x-request-id") ?? "", body: text ? JSON.parse(text) : {} };
}

let people = 0;
async function identity(): Promise<{ token: string; email: string }> {
  const email = `racer-${++people}-${Date.now()}@example.com`;
  const minted = await call("POST", "/admin/identities", ADMIN_TOKEN, { email });
  expect(minted.status).toBe(201);
  return { token: minted.body.token as string, email };
}

/** A workspace with its owner and a joined admin member. */
async function workspaceWithAdmin() {
  const owner = await identity();
  const slug = `race-${people}-${Date.now()}`;
  const created = await call("POST", "/v1/me/workspaces", owner.token, { slug, name: slug, environment: "staging" });
  expect(created.status).toBe(201);
  const workspaceId = created.body.id as string;
  const member = await identity();
  const invitation = await call("POST", `/v1/${workspaceId}/invitations`, owner.token, { email: member.email, role: "admin" });
  expect(invitation.status).toBe(201);
  const accepted = await call("POST", `/v1/me/invitations/${invitation.body.id}/accept`, member.token);
  expect(accepted.status).toBe(200);
  return { owner, member, workspaceId, slug, memberId: accepted.body.identity_id as string };
}

async function trailOf(token: string, workspaceId: string): Promise<Event[]> {
  const events: Event[] = [];
  for (let offset = 0; ; offset += 100) {
    const page = await call("GET", `/v1/${workspaceId}/audit?limit=100&offset=${offset}`, token);
    expect(page.status).toBe(200);
    events.push(...(page.body.events as Event[]));
    if (!page.body.has_more) return events;
  }
}

beforeAll(async () => {
  worker = await startArtifact({ outdir: await buildArtifact(ENVIRONMENT), environment: ENVIRONMENT, secrets: { ADMIN_TOKEN } });
}, 180_000);

afterAll(async () => {
  await worker?.dispose();
});

describe("key creates racing a demotion, a removal and an archive", () => {
  it("leave a trail that agrees with every answer", async () => {
    const outcomes = { created: 0, lostAfterWrite: 0, refusedBeforeWrite: 0 };
    const kinds = ["demote", "remove", "archive"] as const;
    for (const kind of kinds) {
      for (let round = 0; round < ROUNDS_PER_KIND; round++) {
        const { owner, member, workspaceId, slug, memberId } = await workspaceWithAdmin();
        const creates = Array.from({ length: CREATES_PER_ROUND }, (_, i) =>
          call("POST", `/v1/${workspaceId}/api-keys`, member.token, { role: "admin", name: `k${i}`, duration_days: 30 }),
        );
        const change =
          kind === "demote"
            ? call("PATCH", `/v1/${workspaceId}/members/${memberId}`, owner.token, { role: "viewer" })
            : kind === "remove"
              ? call("DELETE", `/v1/${workspaceId}/members/${memberId}`, owner.token)
              : call("POST", `/v1/workspaces/${workspaceId}/archive`, owner.token, { slug });
        const [revoking, ...answers] = await Promise.all([change, ...creates]);
        expect([200, 204], JSON.stringify(revoking.body)).toContain(revoking.status);

        const trail = await trailOf(owner.token, workspaceId);
        const createdEvents = trail.filter((e) => e.action === "api_key.created");
        const revocations = trail.filter((e) => e.action === "api_key.deleted");
        const byRequest = new Map(createdEvents.map((e) => [e.metadata?.request_id, e]));
        for (const answer of answers) {
          const recorded = byRequest.get(answer.requestId);
          if (answer.status === 201) {
            outcomes.created++;
            expect(recorded?.metadata?.key_id).toBe(answer.body.key_id);
          } else if (recorded) {
            // Lost after the key was written: the client was told (409/404), and the trail shows the revocation.
            outcomes.lostAfterWrite++;
            expect([404, 409]).toContain(answer.status);
            const revoked = revocations.filter((e) => e.resource_id === recorded.resource_id);
            expect(revoked.length).toBe(1);
            expect(revoked[0]?.metadata?.request_id).toBe(revoking.requestId);
            expect(revoked[0]?.metadata?.reason).toBe(
              { demote: "member_role_changed", remove: "member_removed", archive: "workspace_archived" }[kind],
            );
          } else {
            outcomes.refusedBeforeWrite++;
            expect([403, 404, 409]).toContain(answer.status);
          }
        }
        // Nothing else is in the trail: every creation belongs to one of the answers.
        const answered = new Set(answers.map((a) => a.requestId));
        for (const event of createdEvents) expect(answered.has(event.metadata?.request_id as string)).toBe(true);
        expect(createdEvents.length).toBe(new Set(createdEvents.map((e) => e.metadata?.request_id)).size);
      }
    }
    expect(outcomes.created + outcomes.lostAfterWrite + outcomes.refusedBeforeWrite).toBe(
      kinds.length * ROUNDS_PER_KIND * CREATES_PER_ROUND,
    );
    // The race is real: some creates won, some were refused.
    expect(outcomes.created).toBeGreaterThan(0);
    expect(outcomes.lostAfterWrite + outcomes.refusedBeforeWrite).toBeGreaterThan(0);
    console.log(`audit race: ${JSON.stringify(outcomes)}`);
  }, 180_000);
});
