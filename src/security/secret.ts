import { CHECKSUM_LENGTH, type GrantPrefix, RANDOM_LENGTH, SECRET_PATTERN, SECRET_PREFIXES, type SecretPrefix } from "../core/token-format";

/** Making and checking bearer secrets (their format: core/token-format.ts), and hashing and comparing them. */

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    const bytes = crypto.getRandomValues(new Uint8Array(length * 2));
    for (const byte of bytes) {
      // 248 = 4 * 62: rejecting the top 8 byte values keeps every character equally likely.
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of an ASCII text (a secret's prefix and random part: SECRET_PATTERN admits nothing else), read as its bytes. */
function crc32(ascii: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < ascii.length; i++) crc = CRC_TABLE[(crc ^ ascii.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checksum(body: string): string {
  let value = crc32(body);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function generateSecret(prefix: SecretPrefix | GrantPrefix): string {
  const body = `${prefix}_${randomBase62(RANDOM_LENGTH)}`;
  return body + checksum(body);
}

/** The prefix of a well-formed secret with a valid checksum; null for anything else. Costs no I/O. */
export function parseSecret(secret: string): SecretPrefix | GrantPrefix | null {
  const match = SECRET_PATTERN.exec(secret);
  if (!match) return null;
  const [, prefix, random, sum] = match;
  return checksum(`${prefix}_${random}`) === sum ? (prefix as SecretPrefix | GrantPrefix) : null;
}

const BEARER_PREFIXES: ReadonlySet<string> = new Set(Object.values(SECRET_PREFIXES));

/** The prefix of a well-formed bearer secret (a personal token, an API key); a grant's secret is none. */
export function parseBearerSecret(secret: string): SecretPrefix | null {
  const prefix = parseSecret(secret);
  return prefix !== null && BEARER_PREFIXES.has(prefix) ? (prefix as SecretPrefix) : null;
}

export async function sha256Hex(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time string comparison: both sides are hashed first so lengths never leak. */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/**
 * A uuid (version 4 layout) derived from `name`: the same name always gives the same id, so writes that
 * race to create one thing (an identity's first sign-in, an event recorded once) all name the same row.
 */
export async function derivedUuid(name: string): Promise<string> {
  const hex = (await sha256Hex(name)).slice(0, 32).split("");
  hex[12] = "4";
  hex[16] = "89ab"[Number.parseInt(hex[16]!, 16) % 4]!;
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
