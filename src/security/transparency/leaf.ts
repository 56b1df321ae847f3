import canonicalize from "canonicalize";
import { type Hash, hashLeaf } from "./merkle.ts";

/**
 * A log leaf's bytes: the event object exactly as list-audit-events returns it (no `proof`), in RFC 8785
 * canonical JSON, UTF-8. So an auditor hashes an exported line after removing its `proof` field, with any
 * RFC 8785 library, and gets the leaf the tree holds.
 */
function leafBytes(event: Record<string, unknown>): Uint8Array {
  const text = canonicalize(event);
  if (text === undefined) throw new TypeError("an audit event is a JSON object");
  return new TextEncoder().encode(text);
}

export const eventLeafHash = (event: Record<string, unknown>): Hash => hashLeaf(leafBytes(event));
