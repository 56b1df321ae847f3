import { parseSignerKey, parseVerifierKey, type Signer, type Verifier } from "./transparency/signed-note";

/**
 * The region's audit-log keys (docs/guides/audit.md, "Proving the trail"): AUDIT_SIGNING_KEY, a secret in
 * the note signer format (`PRIVATE+KEY+<name>+<id>+<key>`, made by `npm run audit:keygen`), signs every
 * checkpoint; AUDIT_RETIRED_VERIFIER_KEYS lists the verifier keys of the signing keys it replaced, so
 * checkpoints they signed still verify after a rotation. Parsed once per isolate and key text.
 */

let signerCache: { text: string; signer: Promise<Signer | undefined> } | undefined;

/** The signing key, or undefined when AUDIT_SIGNING_KEY is unset or not a well-formed Ed25519 signer key. */
export function auditSigner(env: { AUDIT_SIGNING_KEY?: string }): Promise<Signer | undefined> {
  const text = env.AUDIT_SIGNING_KEY?.trim() ?? "";
  if (text === "") return Promise.resolve(undefined);
  if (signerCache?.text !== text) signerCache = { text, signer: parseSignerKey(text) };
  return signerCache.signer;
}

/** The retired keys' texts: separated by newlines, commas or spaces (a key has none of them). */
const retiredKeyTexts = (value: string | undefined) => (value ?? "").split(/[\s,]+/).filter((text) => text !== "");

/**
 * Every key a checkpoint of this region may be signed by: the signing key's verifier first, then the
 * retired ones (a malformed retired key is left out: it verifies nothing).
 */
export async function auditVerifiers(env: { AUDIT_SIGNING_KEY?: string; AUDIT_RETIRED_VERIFIER_KEYS?: string }): Promise<Verifier[]> {
  const current = await auditSigner(env);
  const retired = await Promise.all(retiredKeyTexts(env.AUDIT_RETIRED_VERIFIER_KEYS).map((text) => parseVerifierKey(text)));
  return [...(current ? [current] : []), ...retired.filter((key): key is Verifier => key !== undefined)];
}
