/**
 * The closed sets of the domain, each written once. Request schemas, KV records, D1 columns and their
 * CHECK constraints (src/storage/d1/schema.ts) all read these arrays.
 */

export const REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2", "ca-central-1"] as const;
export type Region = (typeof REGIONS)[number];

export function isRegion(value: unknown): value is Region {
  return typeof value === "string" && (REGIONS as readonly string[]).includes(value);
}

export const ENVIRONMENTS = ["production", "staging", "development"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** The environments a workspace may be converted to (a development workspace cannot be converted). */
export const CONVERSION_TARGETS = ["production", "staging"] as const satisfies readonly Environment[];

/** Most authority first. What each role may do is in src/auth/roles.ts. */
export const MEMBERSHIP_ROLES = ["owner", "admin", "member", "viewer"] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];

/** Where an invitation stands (storage/d1/schema.ts `invitations`); the API adds `expired` for a pending one past its expiry. */
export const INVITATION_STATES = ["pending", "accepted", "declined", "revoked", "expired"] as const;

/** What an identity's personal access token may be limited to. */
export const SCOPES = ["workspaces:read", "workspaces:write"] as const;
export type Scope = (typeof SCOPES)[number];

export const CONNECTOR_TYPES = [
  "epic",
  "cerner",
  "allscripts",
  "fhir_store",
  "athenahealth",
  "charmhealth",
  "eclinicalworks",
  "meditab",
] as const;

/** External roles, assignments and role grants (src/external-roles/, src/role-grants/): upstream's enums. */
export const GRANT_RESOURCE_TYPES = ["integration_endpoint", "skill", "kb_scope"] as const;
export const GRANT_ACCESS = ["read", "write"] as const;
export const GRANT_STATUSES = ["active", "superseded"] as const;

/** Where an audit export stands: written within its request (`done` at once), or by its workflow. */
export const EXPORT_STATUSES = ["pending", "running", "done", "failed"] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];
export const ASSIGNMENT_STATUSES = ["active", "suspended", "revoked"] as const;
export const PROVISIONED_VIA = ["roster_sync", "jit"] as const;
