import type { SealContext } from "../core/env";

/**
 * Stored answers are sealed with AES-256-GCM under a key derived (HKDF-SHA-256) from the request's
 * Idempotency-Key and the deployment's IDEMPOTENCY_SECRET: replaying one takes both, so neither a copy
 * of the database nor the server secret alone yields a secret an answer carried. The row's own identity
 * (scope and key hash) is the AES-GCM additional data, so a sealed answer cannot be moved to another row.
 */

const encoder = new TextEncoder();
const IV_BYTES = 12;

async function sealingKey({ serverSecret, idempotencyKey, scope }: SealContext): Promise<CryptoKey> {
  // Length-prefixed, so no (secret, key) pair can be re-split into another with the same bytes.
  const material = encoder.encode(`${serverSecret.length}:${serverSecret}${idempotencyKey}`);
  const base = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: encoder.encode(scope), info: encoder.encode("platform-api idempotent answer v1") },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

const additionalData = (context: SealContext) => encoder.encode(`${context.scope}\n${context.keyHash}`);

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

const fromBase64 = (text: string) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));

/** `base64(iv || ciphertext)` of the text. */
export async function seal(context: SealContext, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await sealingKey(context);
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(context) },
    key,
    encoder.encode(plaintext),
  );
  const out = new Uint8Array(IV_BYTES + ciphertext.byteLength);
  out.set(iv);
  out.set(new Uint8Array(ciphertext), IV_BYTES);
  return toBase64(out);
}

/** The text `seal` sealed; throws if the key, the secret or the row differ, or the data was altered. */
export async function unseal(context: SealContext, sealed: string): Promise<string> {
  const bytes = fromBase64(sealed);
  const key = await sealingKey(context);
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), additionalData: additionalData(context) },
    key,
    bytes.subarray(IV_BYTES),
  );
  return new TextDecoder().decode(plaintext);
}
