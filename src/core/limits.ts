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
 * (drizzle/0012_live_row_limits.sql): live (unrevoked) API keys, and pending unexpired invitations.
 */
export const MAX_LIVE_API_KEYS = 1000;
export const MAX_PENDING_INVITATIONS = 1000;
