/**
 * Download links that need no bearer token: `?expires=<unix seconds>&signature=<hex>`, where the signature
 * is HMAC-SHA256 over "<object key>\n<expires>" with a secret binding. Anyone holding the link may
 * download until it expires; a changed key, expiry or signature is refused. Verification is constant-time
 * (crypto.subtle.verify).
 */

const encoder = new TextEncoder();

function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

const message = (objectKey: string, expires: number) => encoder.encode(`${objectKey}\n${expires}`);

function toHex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

export async function signObjectKey(secret: string, objectKey: string, expires: number): Promise<string> {
  return toHex(await crypto.subtle.sign("HMAC", await hmacKey(secret, "sign"), message(objectKey, expires)));
}

/** True only for an unexpired link whose signature is this secret's over exactly this key and expiry. */
export async function verifyObjectKey(
  secret: string,
  objectKey: string,
  expires: number,
  signature: string,
  nowSeconds = Date.now() / 1000,
): Promise<boolean> {
  if (!Number.isSafeInteger(expires) || expires < nowSeconds) return false;
  const bytes = fromHex(signature);
  if (!bytes) return false;
  return crypto.subtle.verify("HMAC", await hmacKey(secret, "verify"), bytes, message(objectKey, expires));
}
