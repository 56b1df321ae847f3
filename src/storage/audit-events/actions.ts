/**
 * The closed list of audit actions: every control-plane write records exactly one of these, and nothing
 * else is ever recorded. The table of docs/guides/audit.md is this list.
 */
export const AUDIT_ACTIONS = {
  "workspace.created": "A workspace was created, with its creator as owner.",
  "workspace.updated": "Name or connector type changed; `metadata.changes` holds each field's old and new value.",
  "workspace.provisioned": "The workspace was provisioned (first call only).",
  "workspace.environment_converted": "The environment changed; `metadata.changes.environment` holds old and new.",
  "workspace.archived": "The workspace was archived and its API keys revoked.",
  "workspace.test_caller_numbers_updated": "The test caller numbers were replaced; `metadata.changes` holds old and new lists.",
  "workspace.test_credential_ids_updated": "The test credential ids were replaced; `metadata.changes` holds old and new lists.",
  "workspace.retention_policy_updated":
    "The retention policy changed (a legal hold placed or lifted among them); `metadata.changes` holds each changed field's " +
    "old and new value.",
  "api_key.created": "An API key was created; `metadata` holds its key_id, role, permissions and expiry.",
  "api_key.rotated": "An API key got a new secret; `metadata.changes.expires_at` holds old and new expiry.",
  "api_key.deleted":
    "An API key was deleted (revoked); `metadata.reason` says why when a member change or an archive revoked it (`member_role_changed`, " +
    "`member_removed`, `member_left`, `workspace_archived`).",
  "member.joined": "An identity accepted an invitation; `metadata` holds its role and the invitation id.",
  "member.role_changed": "A member's role changed; `metadata.changes.role` holds old and new.",
  "member.removed": "A member was removed by someone else; `metadata.role` is the role it had.",
  "member.left": "A member removed itself; `metadata.role` is the role it had.",
  "invitation.created": "An invitation was sent; `metadata` holds its email, role and expiry.",
  "invitation.revoked": "A pending invitation was revoked.",
  "invitation.declined": "The invitee declined an invitation.",
  "external_role.created": "An external role was created; `metadata` holds its name and external name.",
  "external_role.deleted":
    "An external role was deleted; its active grants were superseded and its name taken out of assignments (each with its own event).",
  "external_role_assignment.created": "An assignment was created by an upsert; `metadata` holds its source, subject key, entity and roles.",
  "external_role_assignment.updated":
    "An upsert changed an assignment (`metadata.changes`), or a role deletion or member removal did (`metadata.reason`).",
  "external_role_assignment.deleted": "An assignment was deleted.",
  "role_grant.created": "A role grant was created; `metadata` holds its role, resource and access.",
  "role_grant.superseded": "A role grant was superseded (by its DELETE, or `metadata.reason` `role_deleted`).",
  "audit.export_created":
    "An audit export was written, or started (its workflow writes it); `metadata` holds its range, filters, row count and status.",
  "audit.event_retracted":
    "The audit log's own entry: an event it had taken was withdrawn because the write it recorded was undone. `resource_id` is the " +
    "event, `resource_name` its action; `metadata` holds its leaf_index and leaf_hash (its leaf stays in the log).",
  "identity.created":
    "Operator log: an identity was created, with its token on the admin surface, or by its first identity-provider token " +
    "(`metadata.credential_issuer` names the provider).",
  "identity.revoked": "Operator log: an identity was revoked on the admin surface (every token of it refused).",
  "identity.enabled": "Operator log: a revoked identity was enabled again on the admin surface.",
  "device_authorization.approved":
    "Operator log: a person approved a terminal's sign-in on the approval page (RFC 8628); `resource_name` is the client's description, " +
    "`metadata` holds the scopes granted and the address and country the request came from.",
  "device_authorization.denied": "Operator log: a person denied a terminal's sign-in on the approval page; `metadata` as for an approval.",
  "sign_in.revoked":
    "Operator log: a sign-in (its refresh tokens) was ended through `POST /revoke`; `resource_name` is the client's description.",
  "sign_in.revoked_for_reuse":
    "Operator log: a refresh token already spent was presented again, so its whole sign-in was revoked (RFC 9700 §4.14): a stolen " +
    "token, or a client that kept an old one. `resource_name` is the client's description.",
  "workspace.slug_released":
    "Operator log: an archived workspace's slug was given back to the global namespace on the admin surface; `metadata` holds the " +
    "slug and when the workspace was archived.",
} as const;

export type AuditAction = keyof typeof AUDIT_ACTIONS;

const RESOURCE_TYPES = [
  "workspace",
  "api_key",
  "audit_export",
  "audit_event",
  "identity",
  "member",
  "invitation",
  "external_role",
  "external_role_assignment",
  "role_grant",
  "device_authorization",
  "sign_in",
] as const;
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** Every event this service writes names this service. */
export const AUDIT_SERVICE = "platform";
