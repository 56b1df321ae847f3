/**
 * Classifies errors thrown by D1 (directly or wrapped in drizzle's DrizzleQueryError, which puts the D1
 * error on `.cause`) by their text: D1 gives no error codes, only the messages Cloudflare documents.
 */

const MAX_CAUSE_DEPTH = 5;

function* causeChain(err: unknown): Generator<unknown> {
  let current = err;
  for (let depth = 0; current != null && depth < MAX_CAUSE_DEPTH; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The `table.column` pairs of a UNIQUE violation anywhere in the cause chain, or null. */
function uniqueViolationColumns(err: unknown): string[] | null {
  for (const e of causeChain(err)) {
    const match = /UNIQUE constraint failed: ([^:]+):/.exec(messageOf(e));
    if (match?.[1]) return match[1].split(", ").map((column) => column.trim());
  }
  return null;
}

export function isUniqueViolationOf(err: unknown, column: string): boolean {
  return uniqueViolationColumns(err)?.includes(column) ?? false;
}

/**
 * An insert or update refused by one of our triggers (`RAISE(ABORT, '<reason>')` in drizzle/), anywhere in
 * the cause chain. D1 reports it as `<reason>: SQLITE_CONSTRAINT (extended: SQLITE_CONSTRAINT_TRIGGER)`.
 */
export function isAbortedBy(err: unknown, reason: string): boolean {
  for (const e of causeChain(err)) {
    if (messageOf(e).includes(`${reason}: SQLITE_CONSTRAINT`)) return true;
  }
  return false;
}

/** Messages Cloudflare documents as transient or load-related: the client should retry (503). */
const RETRYABLE = [
  "Network connection lost",
  "storage caused object to be reset",
  "reset because its code was updated",
  "Cannot resolve D1 DB due to transient issue",
  "D1 DB is overloaded",
  "Too many requests queued",
  "storage operation exceeded timeout",
  "exceeded its memory limit",
  "exceeded its CPU time limit",
  "Can't read from request stream",
];

export function isRetryableStorageError(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const message = messageOf(e);
    if (RETRYABLE.some((needle) => message.includes(needle))) return true;
  }
  return false;
}

/**
 * The innermost message, for logs. drizzle's outer message embeds the query parameters, which we keep
 * out of logs; the D1 error on `.cause` names the failure without them.
 */
export function rootCauseMessage(err: unknown): string {
  let last: unknown = err;
  for (const e of causeChain(err)) last = e;
  return messageOf(last).slice(0, 500);
}
