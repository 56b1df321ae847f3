/**
 * The bounds on a request itself, stated once: the middleware enforces them (http/) and the error table
 * documents them (errors.ts), from these numbers. Each is below Cloudflare's own ceiling (16 KB URL, 32 KB
 * of headers, 100 MB body), so the answer is this API's, and documented.
 */

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_URL_LENGTH = 8192;
export const MAX_HEADER_BYTES = 16 * 1024;
/** Arrays and objects nested deeper than this are refused before parsing (422 `json_too_deep`). */
export const MAX_JSON_DEPTH = 32;

/**
 * What one workspace may hold at once in its region's D1, enforced by SQLite triggers on insert
 * (drizzle/0012_live_row_limits.sql), each with the reason its trigger raises and the 403's sentence
 * (errors.ts maps the reason to `quota_exceeded`).
 */
export const MAX_LIVE_API_KEYS = 1000;
export const MAX_PENDING_INVITATIONS = 1000;
export const MAX_LIVE_EXTERNAL_ROLES = 1000;
export const MAX_ACTIVE_ROLE_GRANTS = 10_000;

const count = (n: number) => n.toLocaleString("en-US");
export const WORKSPACE_HOLDING_LIMITS: Record<string, string> = {
  live_api_keys_exceeded: `The workspace has ${count(MAX_LIVE_API_KEYS)} live API keys, the most it may: delete keys no longer used first.`,
  pending_invitations_exceeded:
    `The workspace has ${count(MAX_PENDING_INVITATIONS)} pending invitations, the most it may: revoke some, or wait for them to be ` +
    "answered or expire.",
  live_external_roles_exceeded: `The workspace has ${count(MAX_LIVE_EXTERNAL_ROLES)} external roles, the most it may: delete unused ones.`,
  active_role_grants_exceeded: `The workspace has ${count(MAX_ACTIVE_ROLE_GRANTS)} active role grants, the most it may: supersede some.`,
};
