/**
 * Lone UTF-16 surrogates: what JSON's `\uD800` escapes can put in a string, and no Unicode text holds.
 * RFC 8785 (the audit log's leaves) refuses them, so the API refuses them in bodies (422) and the audit
 * store stores an event's strings well-formed (U+FFFD in place of each), whatever reaches it.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export const hasLoneSurrogate = (text: string) => text.search(LONE_SURROGATE) >= 0;

/** `value` with every string (and object key) well-formed: each lone surrogate replaced by U+FFFD. */
export function wellFormed<T>(value: T): T {
  if (typeof value === "string") return value.replace(LONE_SURROGATE, "\uFFFD") as T;
  if (Array.isArray(value)) return value.map(wellFormed) as T;
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [wellFormed(key), wellFormed(item)])) as T;
}
