/**
 * Limits on what one caller holds, the grace before an archived workspace's slug may be given back, and the
 * largest audit export written within its request:
 * Worker vars (wrangler.toml), read per request. A value that is not a whole number in range means the
 * default, so a typo neither lifts a limit nor stops every create.
 */

/** Nine digits at most: a number that stays exact, and a limit no region reaches. */
const WHOLE_NUMBER = /^\d{1,9}$/;

function wholeNumber(configured: unknown, min: number, fallback: number): number {
  if (typeof configured !== "string" || !WHOLE_NUMBER.test(configured.trim())) return fallback;
  const value = Number(configured.trim());
  return value >= min ? value : fallback;
}

/** WORKSPACES_PER_IDENTITY: the workspaces one identity may have created in a region that still hold their slug (1 or more; 100). */
export const workspacesPerIdentity = (configured: unknown): number => wholeNumber(configured, 1, 100);

/** SLUG_RELEASE_GRACE_DAYS: days after its archive before an archived workspace's slug may be released (0 or more; 30). */
export const slugReleaseGraceDays = (configured: unknown): number => wholeNumber(configured, 0, 30);

/** AUDIT_EXPORT_SYNC_MAX_EVENTS: the most events an audit export may hold to be written within its request (1 or more; 20,000). */
export const DEFAULT_SYNC_EXPORT_EVENTS = 20_000;
export const syncExportMaxEvents = (configured: unknown): number => wholeNumber(configured, 1, DEFAULT_SYNC_EXPORT_EVENTS);
