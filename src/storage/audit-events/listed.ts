import type { AuditEventRow } from "../audit-store/queries";

/**
 * An event as list-audit-events (and the operator log's list, and exports) show it. It is also the audit
 * log's leaf: the bytes a leaf hashes are this object in RFC 8785 canonical JSON (src/security/transparency/
 * leaf.ts), so a field added here would change every leaf hashed after it. The event's fields are frozen for
 * that reason: a new one needs a new log (docs/decisions/0039-verifiable-audit-log.md).
 */
export function listedEvent(row: AuditEventRow) {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    timestamp: row.timestamp,
    service: row.service,
    action: row.action,
    actor_entity_id: row.actorEntityId,
    actor_credential_id: row.actorCredentialId,
    resource_type: row.resourceType,
    resource_id: row.resourceId,
    resource_name: row.resourceName,
    metadata: row.metadata,
    ip_address: row.ipAddress,
    user_agent: row.userAgent,
    phi_accessed: row.phiAccessed,
  };
}
