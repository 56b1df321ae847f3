import { sha256 } from "@noble/hashes/sha2.js";

/**
 * Checkpoints as C2SP specifies them, so any auditor's tooling reads them: a `tlog-checkpoint` body (origin
 * line, decimal tree size, base64 root hash) signed as a C2SP `signed-note` with Ed25519 (signature type
 * 0x01). Keys are written as Go's note package writes them: a verifier key `<name>+<hex key id>+<base64(0x01
 * || public key)>`, a signer key `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`; the key id is the
 * first four bytes of SHA-256(name || "\n" || 0x01 || public key). Signing and verifying are WebCrypto's
 * Ed25519 (workerd and Node alike); this module only writes and reads the text around them.
 */

const ED25519 = 0x01;

/** WebCrypto's key type, named the same way in workerd's types and in Node's (which have no global `CryptoKey` type). */
type CryptoKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const SIGNATURE_PREFIX = "\u2014 ";

export type Checkpoint = { origin: string; size: number; root: Uint8Array };
export type Verifier = { name: string; keyId: number; key: CryptoKey; text: string };
export type Signer = Verifier & { privateKey: CryptoKey };

const encoder = new TextEncoder();

export const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
export function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** A name of the note format: non-empty, no spaces or plus signs, printable. */
const validName = (name: string) => /^[\x21-\x2a\x2c-\x7e]+$/.test(name);

function keyIdOf(name: string, publicKey: Uint8Array): number {
  const digest = sha256(new Uint8Array([...encoder.encode(`${name}\n`), ED25519, ...publicKey]));
  return new DataView(digest.buffer, digest.byteOffset).getUint32(0);
}

const hex8 = (id: number) => id.toString(16).padStart(8, "0");

/** `text` split at its first `count` plus signs (base64 has plus signs of its own, so the last part may too). */
function splitPlus(text: string, count: number): string[] {
  const parts: string[] = [];
  let rest = text;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf("+");
    if (at < 0) return [];
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  return [...parts, rest];
}

// --- checkpoint bodies --------------------------------------------------------------------------------

export const checkpointBody = ({ origin, size, root }: Checkpoint) => `${origin}\n${size}\n${toBase64(root)}\n`;

/** The checkpoint a note body states; undefined if it is not one (extension lines are allowed and ignored). */
export function parseCheckpointBody(body: string): Checkpoint | undefined {
  const [origin, size, root] = body.split("\n");
  if (!origin || !size || !/^(0|[1-9][0-9]*)$/.test(size) || root === undefined) return undefined;
  const rootBytes = fromBase64(root);
  if (rootBytes?.length !== 32 || !Number.isSafeInteger(Number(size))) return undefined;
  return { origin, size: Number(size), root: rootBytes };
}

// --- keys ----------------------------------------------------------------------------------------------

/** A verifier key from its text; undefined if the text is not a well-formed Ed25519 verifier key. */
export async function parseVerifierKey(text: string): Promise<Verifier | undefined> {
  const [name, id, key] = splitPlus(text.trim(), 2);
  if (!name || !validName(name) || !id || !/^[0-9a-f]{8}$/.test(id) || !key) return undefined;
  const bytes = fromBase64(key);
  if (bytes?.length !== 33 || bytes[0] !== ED25519) return undefined;
  const publicKey = bytes.subarray(1);
  if (keyIdOf(name, publicKey) !== Number.parseInt(id, 16)) return undefined;
  const cryptoKey = await crypto.subtle.importKey("raw", publicKey, "Ed25519", true, ["verify"]);
  return { name, keyId: Number.parseInt(id, 16), key: cryptoKey, text: text.trim() };
}

/** PKCS #8 (RFC 8410) wrapping of a 32-byte Ed25519 seed: the only private-key form WebCrypto imports without its public key. */
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/** A signer key from its text (`PRIVATE+KEY+…`); undefined if malformed or if its id does not match its key. */
export async function parseSignerKey(text: string): Promise<Signer | undefined> {
  const [private_, key_, name, id, encoded] = splitPlus(text.trim(), 4);
  if (private_ !== "PRIVATE" || key_ !== "KEY" || !name || !validName(name) || !id || !/^[0-9a-f]{8}$/.test(id)) {
    return undefined;
  }
  const bytes = encoded ? fromBase64(encoded) : undefined;
  if (bytes?.length !== 33 || bytes[0] !== ED25519) return undefined;
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array([...PKCS8_ED25519_PREFIX, ...bytes.subarray(1)]),
    "Ed25519",
    true,
    ["sign"],
  );
  const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as { x?: string };
  const publicKey = Uint8Array.from(atob((jwk.x ?? "").replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const keyId = keyIdOf(name, publicKey);
  if (keyId !== Number.parseInt(id, 16)) return undefined;
  const key = await crypto.subtle.importKey("raw", publicKey, "Ed25519", true, ["verify"]);
  return { name, keyId, key, privateKey, text: `${name}+${hex8(keyId)}+${toBase64(new Uint8Array([ED25519, ...publicKey]))}` };
}

/** A new key pair as text: what `npm run audit:keygen` prints (the signer is a secret, the verifier public). */
export async function generateKeyPair(name: string): Promise<{ signer: string; verifier: string }> {
  if (!validName(name)) throw new Error(`"${name}" is not a note key name (printable, no spaces or "+")`);
  const pair = (await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"])) as { privateKey: CryptoKey; publicKey: CryptoKey };
  const pkcs8 = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  const seed = pkcs8.subarray(pkcs8.length - 32);
  const publicKey = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const id = hex8(keyIdOf(name, publicKey));
  return {
    signer: `PRIVATE+KEY+${name}+${id}+${toBase64(new Uint8Array([ED25519, ...seed]))}`,
    verifier: `${name}+${id}+${toBase64(new Uint8Array([ED25519, ...publicKey]))}`,
  };
}

// --- notes ---------------------------------------------------------------------------------------------

/** The signed note of `body` (which ends in a newline): the body, a blank line, one signature line. */
export async function signNote(body: string, signer: Signer): Promise<string> {
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", signer.privateKey, encoder.encode(body)));
  const keyId = new Uint8Array(4);
  new DataView(keyId.buffer).setUint32(0, signer.keyId);
  return `${body}\n${SIGNATURE_PREFIX}${signer.name} ${toBase64(new Uint8Array([...keyId, ...signature]))}\n`;
}

export type OpenedNote = { body: string; signedBy: Verifier[] };

/**
 * The note's body and the known keys whose signatures on it verify; undefined if the text is not a signed
 * note. A signature by a key not in `verifiers` is skipped, as the format says; one by a known key that
 * does not verify makes the whole note fail (undefined).
 */
export async function openNote(text: string, verifiers: Verifier[]): Promise<OpenedNote | undefined> {
  const split = text.lastIndexOf("\n\n");
  if (split < 0 || !text.endsWith("\n")) return undefined;
  const body = text.slice(0, split + 1);
  const lines = text.slice(split + 2, -1).split("\n");
  const signedBy: Verifier[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) return undefined;
    const [name, encoded, ...rest] = line.slice(SIGNATURE_PREFIX.length).split(" ");
    const bytes = encoded ? fromBase64(encoded) : undefined;
    if (rest.length > 0 || !name || !bytes || bytes.length < 5) return undefined;
    const keyId = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
    const verifier = verifiers.find((v) => v.name === name && v.keyId === keyId);
    if (!verifier) continue;
    // An Ed25519 signature is 64 bytes: workerd's verify throws on any other length (Node's answers false).
    if (bytes.length !== 4 + 64) return undefined;
    const valid = await crypto.subtle.verify("Ed25519", verifier.key, bytes.subarray(4), encoder.encode(body)).catch(() => false);
    if (!valid) return undefined;
    signedBy.push(verifier);
  }
  return { body, signedBy };
}

/** A signed checkpoint read and checked: its statement, if a known key signed it; undefined otherwise. */
export async function openCheckpoint(text: string, verifiers: Verifier[]): Promise<Checkpoint | undefined> {
  const note = await openNote(text, verifiers);
  if (!note || note.signedBy.length === 0) return undefined;
  return parseCheckpointBody(note.body);
}
