import { and, asc, eq } from "drizzle-orm";
import type { Storage } from "../../core/env";
import {
  apiKeys,
  type ExternalRoleAssignmentRow,
  externalRoleAssignments,
  externalRoles,
  memberships,
  type RoleGrantRow,
  roleGrants,
} from "../../storage/d1/schema";
import { liveRoles } from "../external-roles/service";
import { memberResponses } from "../members/service";
import { toApiKeyCredential } from "./schemas";

/** What the review says about credentials it cannot list. */
const JWT_CREDENTIALS_NOTE =
  "Listed: every API key of the workspace (active, expired and revoked) and every member identity, which reaches the workspace with " +
  "its personal access tokens within its role. JWT credentials (SSO sessions issued by an identity provider to the data plane) are " +
  "not issued or stored by the control plane and are not listed: review them in the identity provider.";

/**
 * The access review: every credential that reaches the workspace or did, read in one D1 batch (one
 * snapshot). API keys oldest first, then members by when they joined, each with what its external role
 * assignments give it in the data plane.
 */
export async function accessReview(storage: Storage, workspaceId: string) {
  const { db } = storage;
  const [keys, members, assignments, roles, grants] = await db.batch([
    db.select().from(apiKeys).where(eq(apiKeys.workspaceId, workspaceId)).orderBy(asc(apiKeys.seq)),
    db.select().from(memberships).where(eq(memberships.workspaceId, workspaceId)).orderBy(asc(memberships.seq)),
    db
      .select()
      .from(externalRoleAssignments)
      .where(eq(externalRoleAssignments.workspaceId, workspaceId))
      .orderBy(asc(externalRoleAssignments.seq)),
    db.select({ id: externalRoles.id, name: externalRoles.name }).from(externalRoles).where(liveRoles(workspaceId)),
    db
      .select()
      .from(roleGrants)
      .where(and(eq(roleGrants.workspaceId, workspaceId), eq(roleGrants.status, "active")))
      .orderBy(asc(roleGrants.seq)),
  ]);
  const now = Date.now();
  const reach = dataPlaneReach(assignments, new Map(roles.map((r) => [r.id, r.name])), grants);
  const identities = (await memberResponses(storage, members)).map(({ workspace_id: _, ...member }) => ({
    ...member,
    credential_type: "identity" as const,
    ...reach(member.identity_id),
  }));
  const credentials = [...keys.map((row) => toApiKeyCredential(row, now)), ...identities];
  return {
    generated_at: new Date(now).toISOString(),
    workspace_id: workspaceId,
    credentials,
    total_credentials: credentials.length,
    jwt_credentials_note: JWT_CREDENTIALS_NOTE,
  };
}

/** Per member: its assignments, and the active grants of the roles its active assignments hold. */
function dataPlaneReach(assignments: ExternalRoleAssignmentRow[], roleNames: Map<string, string>, grants: RoleGrantRow[]) {
  return (identityId: string) => {
    const theirs = assignments.filter((a) => a.entityId === identityId);
    const held = new Set(theirs.filter((a) => a.status === "active").flatMap((a) => a.roles));
    return {
      external_role_assignments: theirs.map((a) => ({
        assignment_id: a.id,
        source: a.source,
        external_subject_key: a.externalSubjectKey,
        roles: a.roles,
        status: a.status,
      })),
      effective_grants: grants.flatMap((g) => {
        const role = roleNames.get(g.roleId);
        if (role === undefined || !held.has(role)) return [];
        return [
          {
            grant_id: g.id,
            role,
            resource_type: g.resourceType,
            resource_key: g.resourceKey,
            access: g.access,
            param_binding: g.paramBinding,
          },
        ];
      }),
    };
  };
}
