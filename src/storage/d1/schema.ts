import { type SQL, sql } from "drizzle-orm";
import { check, index, integer, primaryKey, type SQLiteColumn, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import {
  ASSIGNMENT_STATUSES,
  ENVIRONMENTS,
  EXPORT_STATUSES,
  GRANT_ACCESS,
  GRANT_RESOURCE_TYPES,
  GRANT_STATUSES,
  INVITATION_STATES,
  MEMBERSHIP_ROLES,
  PROVISIONED_VIA,
} from "../../core/domain";
import { auditEventColumns } from "../audit-events/columns";

/** `column in ('a', 'b', …)` from the domain's array, so a CHECK constraint never drifts from the enum. */
function oneOf(column: SQLiteColumn, values: readonly string[]): SQL {
  return sql`${column} in (${sql.raw(values.map((value) => `'${value}'`).join(", "))})`;
}

/**
 * `seq` is the keyset-pagination cursor (see src/storage/pagination.ts); `id` is the public uuid. Timestamps are ISO 8601
 * strings in UTC, so they sort and compare as text and come back exactly as they went in.
 */
export const workspaces = sqliteTable(
  "workspaces",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    slug: text("slug").notNull(),
    name: text("name").notNull(),
    environment: text("environment", { enum: ENVIRONMENTS }).notNull(),
    backendOrgId: text("backend_org_id"),
    region: text("region").notNull(),
    connectorType: text("connector_type"),
    provisionedAt: text("provisioned_at"),
    archivedAt: text("archived_at"),
    /** E.164 numbers whose calls are tagged as test traffic (PUT .../test-caller-numbers). */
    testCallerNumbers: text("test_caller_numbers", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** Credential uuids whose text turns are tagged as test traffic (PUT .../test-credential-ids). */
    testCredentialIds: text("test_credential_ids", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    createdByIdentityId: text("created_by_identity_id").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    /**
     * When an operator gave an archived workspace's slug back to the global namespace
     * (admin-release-workspace-slug): the row keeps its slug as history, and no longer holds it.
     */
    slugReleasedAt: text("slug_released_at"),
  },
  (t) => [
    uniqueIndex("workspaces_id_unique").on(t.id),
    uniqueIndex("workspaces_slug_unique").on(t.slug).where(sql`${t.slugReleasedAt} is null`),
    // The limit on workspaces one identity creates counts these.
    index("workspaces_created_by_idx").on(t.createdByIdentityId),
    check("workspaces_environment_check", oneOf(t.environment, ENVIRONMENTS)),
  ],
);

export const memberships = sqliteTable(
  "memberships",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    identityId: text("identity_id").notNull(),
    role: text("role", { enum: MEMBERSHIP_ROLES }).notNull(),
    createdAt: text("created_at").notNull(),
    /**
     * The member's profile as it was when they joined (identities cannot change either today). Null only
     * on memberships made before these columns existed: the members list reads those from KV.
     */
    email: text("email"),
    displayName: text("display_name"),
    /** The person who invited them; null for the workspace's creator (and for a key without a person). */
    invitedBy: text("invited_by"),
  },
  (t) => [
    uniqueIndex("memberships_workspace_identity_unique").on(t.workspaceId, t.identityId),
    index("memberships_identity_idx").on(t.identityId, t.workspaceId),
    // list-workspaces pages an identity's memberships newest first by seq.
    index("memberships_identity_seq_idx").on(t.identityId, t.seq),
    check("memberships_role_check", oneOf(t.role, MEMBERSHIP_ROLES)),
  ],
);

export type WorkspaceRow = typeof workspaces.$inferSelect;
export type MembershipRow = typeof memberships.$inferSelect;

/**
 * Invitations to join a workspace, addressed to an email (stored lower-cased; an identity with that
 * email, compared case-insensitively, may accept). `state` leaves `pending` once (accepted, declined,
 * revoked, or `expired` when a new invitation replaces an expired one); a pending invitation past
 * `expires_at` answers as expired. At most one pending invitation per workspace and email.
 */
export const invitations = sqliteTable(
  "invitations",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    email: text("email").notNull(),
    role: text("role", { enum: MEMBERSHIP_ROLES }).notNull(),
    state: text("state", { enum: INVITATION_STATES }).notNull(),
    invitedByEntityId: text("invited_by_entity_id"),
    invitedByCredentialId: text("invited_by_credential_id").notNull(),
    acceptedByIdentityId: text("accepted_by_identity_id"),
    expiresAt: text("expires_at").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("invitations_id_unique").on(t.id),
    uniqueIndex("invitations_pending_unique").on(t.workspaceId, t.email).where(sql`${t.state} = 'pending'`),
    index("invitations_workspace_seq_idx").on(t.workspaceId, t.seq),
    index("invitations_email_seq_idx").on(t.email, t.seq),
    // What a person invited, in one workspace (a removal, a demotion) or in all (a disabled person).
    index("invitations_inviter_idx").on(t.invitedByEntityId, t.workspaceId),
    // What MAX_PENDING_INVITATIONS counts (drizzle/0012's trigger): the pending ones alone, by expiry.
    index("invitations_pending_idx").on(t.workspaceId, t.expiresAt).where(sql`${t.state} = 'pending'`),
    check("invitations_role_check", oneOf(t.role, MEMBERSHIP_ROLES)),
    check("invitations_state_check", oneOf(t.state, INVITATION_STATES)),
  ],
);

export type InvitationRow = typeof invitations.$inferSelect;

/**
 * Workspace API keys. Only the SHA-256 of the secret is stored. `permissions` is a JSON array of names.
 * Revoked keys keep their row (`revoked_at` set) for audit; lists leave them out.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    keyId: text("key_id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name"),
    role: text("role", { enum: MEMBERSHIP_ROLES }).notNull(),
    permissions: text("permissions", { mode: "json" }).$type<string[]>().notNull(),
    keyHash: text("key_hash").notNull(),
    /** The workspace's environment when the key was made: environment-check warns about stale ones. */
    environment: text("environment", { enum: ENVIRONMENTS }),
    createdByEntityId: text("created_by_entity_id"),
    createdByCredentialId: text("created_by_credential_id"),
    /**
     * The person accountable for the key: whoever received its current secret (by create or rotate; for a
     * key made or rotated by a key, the person accountable for that key). The key's actions are recorded
     * as theirs, and it is revoked when they leave, are removed, demoted below it or disabled. Null only
     * for keys with no person behind them.
     */
    accountableEntityId: text("accountable_entity_id"),
    /** When the current secret was issued (create or rotate): a disabled person's keys issued before re-enabling stay refused. */
    secretIssuedAt: text("secret_issued_at").notNull().default("1970-01-01T00:00:00.000Z"),
    expiresAt: text("expires_at").notNull(),
    lastUsedAt: text("last_used_at"),
    revokedAt: text("revoked_at"),
    /** Set once the key's KV record is known to be deleted after an archive (lets a repeat resume). */
    recordPurgedAt: text("record_purged_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("api_keys_id_unique").on(t.id),
    uniqueIndex("api_keys_key_id_unique").on(t.keyId),
    uniqueIndex("api_keys_key_hash_unique").on(t.keyHash),
    index("api_keys_workspace_seq_idx").on(t.workspaceId, t.seq),
    // A person's keys, in one workspace (a removal, a demotion) or in all (a disabled person).
    index("api_keys_accountable_idx").on(t.accountableEntityId, t.workspaceId),
    // What MAX_LIVE_API_KEYS counts (drizzle/0012's trigger): the live keys alone, however many were revoked.
    index("api_keys_live_idx").on(t.workspaceId).where(sql`${t.revokedAt} is null`),
    check("api_keys_role_check", oneOf(t.role, MEMBERSHIP_ROLES)),
  ],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/**
 * The audit outbox: every control-plane write inserts its event here, in the same D1 batch as the write
 * (src/storage/audit-events/record.ts), so the two commit together or not at all. Rows leave for the
 * workspace's audit store (its Durable Object, src/storage/audit-store/) right after the write and on the
 * scheduled sweep, and are deleted here once the store holds them: the table is nearly always empty.
 * Drained per scope (workspace, or null for the operator log) in seq order; `id` is what an in-batch
 * condition (`eventRecorded`) looks up.
 */
export const auditEvents = sqliteTable("audit_events", auditEventColumns(), (t) => [
  uniqueIndex("audit_events_id_unique").on(t.id),
  index("audit_events_scope_idx").on(t.workspaceId),
]);

/**
 * Which yearly audit stores a scope has (src/storage/audit-store/trail.ts): a workspace's events are kept
 * one Durable Object per calendar year (UTC) of their timestamp. Written with each forward, deleted when
 * retention empties a past year. `scope` is the workspace id, or `operator-log`.
 */
export const auditStoreYears = sqliteTable(
  "audit_store_years",
  { scope: text("scope").notNull(), year: integer("year").notNull() },
  (t) => [primaryKey({ columns: [t.scope, t.year] })],
);

/**
 * Audit exports written to R2 (AUDIT_EXPORTS); the object itself is `object_key`. One written within its
 * request is `done` from the start; a larger one (src/jobs/audit-export-workflow.ts) is `pending`, then
 * `running` (`events_written` and `size` so far), then `done` or `failed` (`failure` says why). An export
 * expires EXPORT_RETENTION_DAYS after `finished_at`; until it finishes it does not expire.
 */
export const auditExports = sqliteTable(
  "audit_exports",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    objectKey: text("object_key").notNull(),
    /** Events counted when the export was asked for; once done, the events it holds. */
    rowCount: integer("row_count").notNull(),
    size: integer("size").notNull(),
    createdAt: text("created_at").notNull(),
    status: text("status", { enum: EXPORT_STATUSES }).notNull().default("done"),
    eventsWritten: integer("events_written").notNull().default(0),
    finishedAt: text("finished_at"),
    failure: text("failure"),
    /** What a workflow's export selects (its request's filters, JSON), so the hourly run can start it again; null if done at once. */
    filters: text("filters", { mode: "json" }).$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex("audit_exports_id_unique").on(t.id),
    index("audit_exports_workspace_seq_idx").on(t.workspaceId, t.seq),
    index("audit_exports_finished_idx").on(t.finishedAt),
  ],
);

export type AuditExportRow = typeof auditExports.$inferSelect;

/**
 * The first answer to a write sent with an `Idempotency-Key`, kept 24 hours for its retries
 * (docs/guides/retries-and-limits.md). Keyed by who asked and a hash of their key; the answer is stored sealed
 * (AES-GCM under a key derived from the Idempotency-Key and a server secret), so the table alone never
 * yields a secret a response carried. The request that `owner` names runs until `locked_until` (its
 * lease); `status` stays null until an answer is stored.
 */
export const idempotencyRecords = sqliteTable(
  "idempotency_records",
  {
    scope: text("scope").notNull(),
    keyHash: text("key_hash").notNull(),
    fingerprint: text("fingerprint").notNull(),
    owner: text("owner").notNull(),
    lockedUntil: text("locked_until").notNull(),
    status: integer("status"),
    sealedBody: text("sealed_body"),
    createdAt: text("created_at").notNull(),
    expiresAt: text("expires_at").notNull(),
    /**
     * The person the record counts against (IDEMPOTENCY_KEYS_PER_CALLER): the identity, or the person
     * accountable for the API key (a key with no one behind it: the key). Null on records from before it.
     */
    holder: text("holder"),
  },
  (t) => [
    primaryKey({ columns: [t.scope, t.keyHash] }),
    index("idempotency_records_expires_idx").on(t.expiresAt),
    index("idempotency_records_holder_idx").on(t.holder, t.expiresAt),
  ],
);

/**
 * A workspace's external roles: the names an identity provider or roster uses, mapped to grants. Deleting
 * one sets `deleted_at` (grants keep pointing at it as history); the name is unique among the live ones.
 */
export const externalRoles = sqliteTable(
  "external_roles",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    name: text("name").notNull(),
    externalName: text("external_name").notNull(),
    description: text("description"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    deletedAt: text("deleted_at"),
  },
  (t) => [
    uniqueIndex("external_roles_id_unique").on(t.id),
    uniqueIndex("external_roles_live_name_unique").on(t.workspaceId, t.name).where(sql`${t.deletedAt} is null`),
    index("external_roles_workspace_seq_idx").on(t.workspaceId, t.seq),
  ],
);

export type ExternalRoleRow = typeof externalRoles.$inferSelect;

/** Which external roles a subject of an external source holds, tied to a member identity; one per (source, subject key). */
export const externalRoleAssignments = sqliteTable(
  "external_role_assignments",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    source: text("source").notNull(),
    externalSubjectKey: text("external_subject_key").notNull(),
    externalSubjectId: text("external_subject_id"),
    entityId: text("entity_id").notNull(),
    displayName: text("display_name"),
    /** External role names, in the order sent, without duplicates. */
    roles: text("roles", { mode: "json" }).$type<string[]>().notNull(),
    rolesVerified: integer("roles_verified", { mode: "boolean" }).notNull(),
    status: text("status", { enum: ASSIGNMENT_STATUSES }).notNull(),
    provisionedVia: text("provisioned_via", { enum: PROVISIONED_VIA }).notNull(),
    lastVerifiedAt: text("last_verified_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("external_role_assignments_id_unique").on(t.id),
    uniqueIndex("external_role_assignments_subject_unique").on(t.workspaceId, t.source, t.externalSubjectKey),
    index("external_role_assignments_workspace_seq_idx").on(t.workspaceId, t.seq),
    index("external_role_assignments_entity_idx").on(t.workspaceId, t.entityId),
    check("external_role_assignments_status_check", oneOf(t.status, ASSIGNMENT_STATUSES)),
    check("external_role_assignments_provisioned_via_check", oneOf(t.provisionedVia, PROVISIONED_VIA)),
  ],
);

export type ExternalRoleAssignmentRow = typeof externalRoleAssignments.$inferSelect;

/**
 * What an external role may reach: `access` to one resource. Never deleted: superseding sets `status` and
 * `changed_by`. At most one active grant per (role, resource, access).
 */
export const roleGrants = sqliteTable(
  "role_grants",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    workspaceId: text("workspace_id")
      .notNull()
      .references(() => workspaces.id),
    roleId: text("role_id").notNull(),
    resourceType: text("resource_type", { enum: GRANT_RESOURCE_TYPES }).notNull(),
    resourceKey: text("resource_key").notNull(),
    access: text("access", { enum: GRANT_ACCESS }).notNull(),
    paramBinding: text("param_binding"),
    status: text("status", { enum: GRANT_STATUSES }).notNull(),
    /** Who made the last change: the creator, then whoever superseded it. */
    changedBy: text("changed_by"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("role_grants_id_unique").on(t.id),
    uniqueIndex("role_grants_active_unique").on(t.roleId, t.resourceType, t.resourceKey, t.access).where(sql`${t.status} = 'active'`),
    index("role_grants_workspace_seq_idx").on(t.workspaceId, t.seq),
    // What MAX_ACTIVE_ROLE_GRANTS counts (drizzle/0012's trigger): the active grants alone.
    index("role_grants_active_idx").on(t.workspaceId).where(sql`${t.status} = 'active'`),
    check("role_grants_resource_type_check", oneOf(t.resourceType, GRANT_RESOURCE_TYPES)),
    check("role_grants_access_check", oneOf(t.access, GRANT_ACCESS)),
    check("role_grants_status_check", oneOf(t.status, GRANT_STATUSES)),
  ],
);

export type RoleGrantRow = typeof roleGrants.$inferSelect;

/**
 * A workspace's retention policy (GET/PUT /v1/{workspace_id}/settings/retention). A null `*_days` was
 * never set (or was reset with null): the answer gives the default. `version` orders the legal hold
 * for the audit stores (src/storage/audit-store/object.ts). `pruned_at` is when the scheduled job last
 * applied the policy: the job takes the workspaces it visited longest ago first (a workspace that never
 * set a policy gets a row with only that).
 */
export const retentionPolicies = sqliteTable(
  "retention_policies",
  {
    workspaceId: text("workspace_id")
      .primaryKey()
      .references(() => workspaces.id),
    callRecordingsDays: integer("call_recordings_days"),
    callTranscriptsDays: integer("call_transcripts_days"),
    auditLogDays: integer("audit_log_days"),
    worldEventsDays: integer("world_events_days"),
    phiDataDays: integer("phi_data_days"),
    legalHold: integer("legal_hold", { mode: "boolean" }).notNull().default(false),
    legalHoldReason: text("legal_hold_reason"),
    /**
     * The policy's version: one more on every change. It orders legal-hold changes for the audit stores
     * (a counter, so no clock of any machine decides which is newer) and guards a change against a
     * concurrent one.
     */
    version: integer("version").notNull().default(0),
    updatedAt: text("updated_at"),
    prunedAt: text("pruned_at"),
  },
  (t) => [index("retention_policies_pruned_idx").on(t.prunedAt)],
);

export type RetentionPolicyRow = typeof retentionPolicies.$inferSelect;

/**
 * Which disabled people's revocations this region has applied (src/routes/admin/revocations.ts): the
 * `revoked-before:<identity>` marker in KV is global, and each region revokes in its own D1 the keys and
 * invitations it names. `revoked_before` is the marker's cutoff as applied (null: everything, while the
 * person is disabled); `swept_at` when.
 */
export const identityRevocationSweeps = sqliteTable("identity_revocation_sweeps", {
  identityId: text("identity_id").primaryKey(),
  revokedBefore: text("revoked_before"),
  sweptAt: text("swept_at").notNull(),
});

export const DEVICE_AUTHORIZATION_STATES = ["pending", "approved", "denied", "consumed"] as const;
export type DeviceAuthorizationState = (typeof DEVICE_AUTHORIZATION_STATES)[number];

/**
 * A terminal's request to sign in (RFC 8628, src/routes/identity/): the hashes of its device code and of its
 * user code, never the codes. `pending` until the person approves or denies it on the page, `consumed` once
 * its poller took the tokens (single use). The hourly sweep deletes it a day after it expired.
 */
export const deviceAuthorizations = sqliteTable(
  "device_authorizations",
  {
    id: text("id").primaryKey(),
    deviceCodeHash: text("device_code_hash").notNull(),
    userCodeHash: text("user_code_hash").notNull(),
    clientDescription: text("client_description").notNull(),
    /** Space-separated, as OAuth writes scopes. */
    scope: text("scope").notNull(),
    /** Where the request came from, shown on the page so a person can tell a phishing request: address, country, agent. */
    requestedFromAddress: text("requested_from_address"),
    requestedFromCountry: text("requested_from_country"),
    requestedByAgent: text("requested_by_agent"),
    state: text("state", { enum: DEVICE_AUTHORIZATION_STATES }).notNull(),
    /** The person who approved or denied it. */
    identityId: text("identity_id"),
    intervalSeconds: integer("interval_seconds").notNull(),
    lastPolledAt: text("last_polled_at"),
    decidedAt: text("decided_at"),
    createdAt: text("created_at").notNull(),
    expiresAt: text("expires_at").notNull(),
  },
  (t) => [
    uniqueIndex("device_authorizations_device_code_unique").on(t.deviceCodeHash),
    uniqueIndex("device_authorizations_user_code_unique").on(t.userCodeHash),
    index("device_authorizations_expires_idx").on(t.expiresAt),
    check("device_authorizations_state_check", oneOf(t.state, DEVICE_AUTHORIZATION_STATES)),
  ],
);
export type DeviceAuthorizationRow = typeof deviceAuthorizations.$inferSelect;

/**
 * Refresh tokens (hashes only), one row per token; a sign-in's tokens share its `family_id` (the sign-in's
 * id, and the `sid` of its access tokens). Each use spends the token and issues the next in the family
 * (`replaced_by`); a spent token used again revokes the whole family (RFC 9700 §4.14). `workspace_id` is
 * the workspace its access tokens are for (null: a bootstrap token, for no workspace). A token unused
 * for 30 days (`expires_at`) is dead; the hourly sweep deletes a family a day after its last token died.
 */
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    id: text("id").primaryKey(),
    tokenHash: text("token_hash").notNull(),
    familyId: text("family_id").notNull(),
    identityId: text("identity_id").notNull(),
    workspaceId: text("workspace_id"),
    scope: text("scope").notNull(),
    clientDescription: text("client_description").notNull(),
    /** When the family began (the approval): a person disabled and enabled again does not get it back. */
    familyCreatedAt: text("family_created_at").notNull(),
    issuedAt: text("issued_at").notNull(),
    expiresAt: text("expires_at").notNull(),
    spentAt: text("spent_at"),
    replacedBy: text("replaced_by"),
    revokedAt: text("revoked_at"),
    revokedReason: text("revoked_reason"),
  },
  (t) => [
    uniqueIndex("refresh_tokens_token_hash_unique").on(t.tokenHash),
    index("refresh_tokens_family_idx").on(t.familyId),
    index("refresh_tokens_identity_idx").on(t.identityId),
    index("refresh_tokens_expires_idx").on(t.expiresAt),
  ],
);
export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
