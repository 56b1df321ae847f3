/**
 * Checkpoints as C2SP signed notes (signed-note.ts). The fixed vectors are those of Go's
 * golang.org/x/mod/sumdb/note tests (note_test.go), the format's reference implementation: if this module
 * writes or reads a note differently from Go, an auditor's tooling disagrees with the log.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Checkpoint,
  checkpointBody,
  generateKeyPair,
  openCheckpoint,
  openNote,
  parseCheckpointBody,
  parseSignerKey,
  parseVerifierKey,
  type Signer,
  signNote,
  type Verifier,
} from "../../../src/security/transparency/signed-note";

// --- Go's vectors (note_test.go) -------------------------------------------------------------------------

const PETER_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
const PETER_NOTE = `${TEXT}\n${PETER_SIG}`;

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A key id as the note format defines it, computed here: SHA-256(name || "\n" || 0x01 || public key)[0:4]. */
function keyIdFor(name: string, publicKey: Uint8Array): string {
  const digest = sha256(new Uint8Array([...new TextEncoder().encode(`${name}\n`), 0x01, ...publicKey]));
  return Array.from(digest.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("");
}
const PETER_PUBLIC = fromBase64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").subarray(1);

/** A signature line with its decoded bytes (key id, then signature) changed by `change`. */
function withSignatureBytes(line: string, change: (bytes: Uint8Array) => void): string {
  const at = line.lastIndexOf(" ") + 1;
  const bytes = fromBase64(line.slice(at, -1));
  change(bytes);
  return `${line.slice(0, at)}${toBase64(bytes)}\n`;
}

/** Whether a note counts as signed by `verifier`: opened, and that key among the signers. */
const signedBy = async (text: string, verifier: Verifier) =>
  (await openNote(text, [verifier]))?.signedBy.some((v) => v.name === verifier.name && v.keyId === verifier.keyId) ?? false;

let peter: Signer;
let peterVerifier: Verifier;
let enochVerifier: Verifier;

beforeAll(async () => {
  peter = (await parseSignerKey(PETER_SIGNER))!;
  peterVerifier = (await parseVerifierKey(PETER_VERIFIER))!;
  enochVerifier = (await parseVerifierKey(ENOCH_VERIFIER))!;
});

describe("Go's sumdb/note vectors", () => {
  it("the test helper computes Go's key ids (so the ids it makes below are right)", () => {
    expect(keyIdFor("PeterNeumann", PETER_PUBLIC)).toBe("c74f20a3");
    expect(keyIdFor("EnochRoot", fromBase64("ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop").subarray(1))).toBe("af0cfe78");
  });

  it("parses the signer key and derives Go's verifier key from it", () => {
    expect(peter).toBeDefined();
    expect(peter.name).toBe("PeterNeumann");
    expect(peter.keyId).toBe(0xc74f20a3);
    expect(peter.text).toBe(PETER_VERIFIER);
    expect(peterVerifier.text).toBe(PETER_VERIFIER);
    expect(peterVerifier.keyId).toBe(0xc74f20a3);
    expect(enochVerifier.keyId).toBe(0xaf0cfe78);
  });

  it("signs the note byte for byte as Go does (Ed25519 is deterministic)", async () => {
    expect(await signNote(TEXT, peter)).toBe(PETER_NOTE);
  });

  it("opens Go's notes: known signatures verified, unknown ones skipped", async () => {
    const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    const one = await openNote(both, [peterVerifier]);
    expect(one?.body).toBe(TEXT);
    expect(one?.signedBy.map((v) => v.name)).toEqual(["PeterNeumann"]);
    expect((await openNote(both, [peterVerifier, enochVerifier]))?.signedBy.map((v) => v.name)).toEqual(["PeterNeumann", "EnochRoot"]);
    // No known key: the note is well formed but signed by nobody we trust.
    expect((await openNote(both, []))?.signedBy).toEqual([]);
    expect(await openNote(PETER_NOTE, [peterVerifier])).toMatchObject({ body: TEXT });
  });

  it('refuses an invalid signature by a known key (Go: "invalid signature for key")', async () => {
    // A 64-byte signature that is not Peter's: one bit of it flipped (the key id, first, left alone).
    const bad = `${TEXT}\n${withSignatureBytes(PETER_SIG, (bytes) => {
      bytes[40]! ^= 1;
    })}`;
    expect(await openNote(bad, [peterVerifier])).toBeUndefined();
    // One bad signature by a known key fails the whole note, even beside a good one...
    const badEnoch = withSignatureBytes(ENOCH_SIG, (bytes) => {
      bytes[4]! ^= 0x80;
    });
    expect(await openNote(`${TEXT}\n${PETER_SIG}${badEnoch}`, [peterVerifier, enochVerifier])).toBeUndefined();
    // ...but is skipped when the key is not known.
    expect(await signedBy(`${TEXT}\n${PETER_SIG}${badEnoch}`, peterVerifier)).toBe(true);
  });

  // Go's own corruption, "ABCD" inserted into the base64 (at byte 60 of the line, 58 UTF-16 units here),
  // leaves a 67-byte signature, on which workerd's crypto.subtle.verify throws where Node's answers false.
  it("refuses a known key's signature of the wrong length (Go's \"ABCD\" corruption) without throwing", async () => {
    const bad = `${TEXT}\n${PETER_SIG.slice(0, 58)}ABCD${PETER_SIG.slice(58)}`;
    expect(await openNote(bad, [peterVerifier])).toBeUndefined();
  });

  it("refuses Go's malformed notes", async () => {
    const malformed = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
    ];
    for (const text of malformed) expect(await openNote(text, [peterVerifier]), JSON.stringify(text)).toBeUndefined();
  });

  it("rejects every substring and every one-character change of the verifier key (Go's TestNewVerifier)", async () => {
    const mangled = new Set<string>();
    for (let i = 0; i < PETER_VERIFIER.length; i++) {
      for (let j = i + 1; j <= PETER_VERIFIER.length; j++)
        if (i !== 0 || j !== PETER_VERIFIER.length) mangled.add(PETER_VERIFIER.slice(i, j));
      mangled.add(PETER_VERIFIER.slice(0, i) + String.fromCharCode(PETER_VERIFIER.charCodeAt(i) + 1) + PETER_VERIFIER.slice(i + 1));
    }
    mangled.add("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="); // wrong length, id adjusted
    mangled.add("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"); // unknown algorithm, id adjusted
    const accepted = [];
    for (const key of mangled) if (await parseVerifierKey(key)) accepted.push(key);
    expect(accepted).toEqual([]);
  });

  it("rejects every substring and every one-character change of the signer key (Go's TestNewSigner)", async () => {
    const mangled = new Set<string>();
    for (let i = 0; i < PETER_SIGNER.length; i++) {
      for (let j = i + 1; j <= PETER_SIGNER.length; j++) if (i !== 0 || j !== PETER_SIGNER.length) mangled.add(PETER_SIGNER.slice(i, j));
      mangled.add(PETER_SIGNER.slice(0, i) + String.fromCharCode(PETER_SIGNER.charCodeAt(i) + 1) + PETER_SIGNER.slice(i + 1));
    }
    const accepted = [];
    for (const key of mangled) if (await parseSignerKey(key)) accepted.push(key);
    expect(accepted).toEqual([]);
  });
});

describe("keys", () => {
  it("rejects malformed verifier and signer keys", async () => {
    const key = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const seed = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    // Names the format forbids, each given the key id that would be right for it: only the name is wrong.
    const spaced = `Peter Neumann+${keyIdFor("Peter Neumann", PETER_PUBLIC)}`;
    const plussed = `Peter+Neumann+${keyIdFor("Peter+Neumann", PETER_PUBLIC)}`;
    const empty = `+${keyIdFor("", PETER_PUBLIC)}`;
    const badVerifiers = {
      "wrong id": `PeterNeumann+c74f20a4+${key}`,
      "short id": `PeterNeumann+c74f20a+${key}`,
      "missing id": `PeterNeumann+${key}`,
      "too short": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
      "too long": `PeterNeumann+c74f20a3+${key}AAAA`,
      "bad base64 character": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T*",
      "URL-safe base64": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
      "unpadded length": "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
      "name with a space": `${spaced}+${key}`,
      "name with a plus": `${plussed}+${key}`,
      "empty name": `${empty}+${key}`,
      "a signer key": PETER_SIGNER,
    };
    for (const [what, text] of Object.entries(badVerifiers)) expect(await parseVerifierKey(text), what).toBeUndefined();
    const badSigners = {
      "wrong id": `PRIVATE+KEY+PeterNeumann+c74f20a4+${seed}`,
      "wrong name for the id": `PRIVATE+KEY+PeterNeuman+c74f20a3+${seed}`,
      "unknown algorithm": "PRIVATE+KEY+PeterNeumann+c74f20a3+ZYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
      "too long": `PRIVATE+KEY+PeterNeumann+c74f20a3+${seed}AAAA`,
      "bad base64": `PRIVATE+KEY+PeterNeumann+c74f20a3+${seed.slice(0, -1)}!`,
      "name with a space": `PRIVATE+KEY+Peter Neumann+${keyIdFor("Peter Neumann", PETER_PUBLIC)}+${seed}`,
      "lower-case prefix": `private+key+PeterNeumann+c74f20a3+${seed}`,
      "a verifier key": PETER_VERIFIER,
    };
    for (const [what, text] of Object.entries(badSigners)) expect(await parseSignerKey(text), what).toBeUndefined();
    // The same text with the name fixed is accepted, so each rejection above is about what it names.
    expect(await parseVerifierKey(`PeterNeumann+c74f20a3+${key}`)).toBeDefined();
    expect(await parseSignerKey(`PRIVATE+KEY+PeterNeumann+c74f20a3+${seed}`)).toBeDefined();
  });

  it("generateKeyPair refuses names the format forbids", async () => {
    for (const name of ["", "a b", "a+b", "tab\there", "new\nline"])
      await expect(generateKeyPair(name), JSON.stringify(name)).rejects.toThrow();
  });

  it("a generated pair parses, agrees on its key id, and signs notes the verifier opens", async () => {
    const pair = await generateKeyPair("example.com/log");
    const signer = (await parseSignerKey(pair.signer))!;
    const verifier = (await parseVerifierKey(pair.verifier))!;
    expect(signer.text).toBe(pair.verifier);
    expect(signer.keyId).toBe(verifier.keyId);
    // name+id+key, where the base64 key may hold plus signs of its own.
    const [id, key] = [pair.verifier.split("+")[1], pair.verifier.split("+").slice(2).join("+")];
    expect(id).toBe(keyIdFor("example.com/log", fromBase64(key).subarray(1)));
    expect(await signedBy(await signNote(TEXT, signer), verifier)).toBe(true);
    // Another key of the same name has another id: its notes are not Peter's, nor this key's.
    expect(await signedBy(await signNote(TEXT, signer), peterVerifier)).toBe(false);
    expect(await signedBy(PETER_NOTE, verifier)).toBe(false);
  });
});

// --- checkpoints ----------------------------------------------------------------------------------------

const CT_ROOT_8 = Uint8Array.from("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328".match(/../g)!, (h) =>
  Number.parseInt(h, 16),
);

describe("checkpoints", () => {
  const checkpoint: Checkpoint = { origin: "example.com/log", size: 8, root: CT_ROOT_8 };

  it("writes the tlog-checkpoint body: origin, decimal size, base64 root, one line each", () => {
    expect(checkpointBody(checkpoint)).toBe("example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n");
    expect(parseCheckpointBody(checkpointBody(checkpoint))).toEqual(checkpoint);
    // Extension lines after the root are allowed and ignored.
    expect(parseCheckpointBody(`${checkpointBody(checkpoint)}extension line\n`)).toEqual(checkpoint);
  });

  it("refuses bodies that are not checkpoints", () => {
    const root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    const bad = {
      "no origin": `\n8\n${root}\n`,
      "leading zero": `o\n08\n${root}\n`,
      "negative size": `o\n-1\n${root}\n`,
      "fractional size": `o\n1.5\n${root}\n`,
      "size past 2^53": `o\n9007199254740993\n${root}\n`,
      "no root": "o\n8\n",
      "short root": `o\n8\n${toBase64(CT_ROOT_8.subarray(1))}\n`,
      "bad base64 root": `o\n8\n${root.slice(0, -1)}!\n`,
    };
    for (const [what, body] of Object.entries(bad)) expect(parseCheckpointBody(body), what).toBeUndefined();
  });

  it("round-trips through a signed note", async () => {
    const note = await signNote(checkpointBody(checkpoint), peter);
    expect(await openCheckpoint(note, [peterVerifier])).toEqual(checkpoint);
  });

  it("a forged body (size or root changed) fails", async () => {
    const note = await signNote(checkpointBody(checkpoint), peter);
    const biggerSize = note.replace("\n8\n", "\n9\n");
    const otherRoot = note.replace(toBase64(CT_ROOT_8), toBase64(sha256(CT_ROOT_8)));
    for (const forged of [biggerSize, otherRoot]) {
      expect(forged).not.toBe(note);
      expect(await openCheckpoint(forged, [peterVerifier])).toBeUndefined();
      // Not merely unsigned: a known key's signature that does not verify fails the note.
      expect(await openNote(forged, [peterVerifier])).toBeUndefined();
    }
  });

  it("a checkpoint signed by an unknown key is not a checkpoint", async () => {
    const other = (await parseSignerKey((await generateKeyPair("example.com/log")).signer))!;
    const note = await signNote(checkpointBody(checkpoint), other);
    expect(await openNote(note, [peterVerifier])).toEqual({ body: checkpointBody(checkpoint), signedBy: [] });
    expect(await openCheckpoint(note, [peterVerifier])).toBeUndefined();
    expect(await openCheckpoint(note, [])).toBeUndefined();
  });

  it("a known key's signature moved onto another body makes the note fail", async () => {
    const sigLine = PETER_NOTE.slice(TEXT.length + 1);
    expect(await openNote(`${checkpointBody(checkpoint)}\n${sigLine}`, [peterVerifier])).toBeUndefined();
  });
});

// --- properties -----------------------------------------------------------------------------------------

/** Note bodies: some lines of text (any Unicode), each ending in a newline; blank lines included. */
const body = fc.array(fc.string({ unit: "grapheme", maxLength: 30 }), { maxLength: 6 }).map((lines) => `${lines.join("\n")}\n`);
const checkpointArb = fc.record({
  origin: fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((o) => !o.includes("\n")),
  size: fc.maxSafeNat(),
  root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

describe("properties", () => {
  it("any body signs and opens to itself; any checkpoint round-trips", async () => {
    await fc.assert(
      fc.asyncProperty(body, checkpointArb, async (text, cp) => {
        const opened = await openNote(await signNote(text, peter), [peterVerifier, enochVerifier]);
        expect(opened?.body).toBe(text);
        expect(opened?.signedBy.map((v) => v.name)).toEqual(["PeterNeumann"]);
        const back = await openCheckpoint(await signNote(checkpointBody(cp), peter), [peterVerifier]);
        expect(back).toEqual(cp);
      }),
      { numRuns: 100 },
    );
  });

  it("any one-character change to the body or the signature line makes the note unsigned", async () => {
    // A change in the body breaks the signature; in the signature line it breaks the syntax, the key id
    // or name (then the signature is someone else's: skipped), or the signature. Either way no checkpoint.
    // Except one position, pinned in the next test: the last base64 digit's two padding bits.
    const replacement = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom("\n", "\u2014", "é"),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(body, checkpointArb.map(checkpointBody)),
        fc.boolean(),
        fc.nat(),
        replacement,
        async (text, inBody, at, c) => {
          const note = await signNote(text, peter);
          const sigStart = text.length + 1;
          const position = inBody ? at % text.length : sigStart + (at % (note.length - sigStart));
          fc.pre(note[position] !== c && position !== note.length - 3);
          const changed = note.slice(0, position) + c + note.slice(position + 1);
          try {
            expect(await signedBy(changed, peterVerifier)).toBe(false);
            expect(await openCheckpoint(changed, [peterVerifier])).toBeUndefined();
          } catch (error) {
            // The known workerd issue pinned above (a known key's signature cut to the wrong length by the
            // change): rejected, though by a throw. Anything else is a failure.
            expect(String(error)).toMatch(/^OperationError: Invalid Ed25519 signature length \d+$/);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the last base64 digit's padding bits are not checked (as in Go's non-strict base64): pinned", async () => {
    // 68 signature bytes (key id and Ed25519 signature) are 92 base64 digits ending "M=": the final digit
    // carries 4 bits of the signature and 2 padding bits. atob, like Go's base64.StdEncoding that note.Open
    // uses, ignores the padding bits, so 3 other spellings of the same signature verify. Harmless for the
    // signature (same bytes), but a note's text is not unique: never identify a checkpoint by its text's hash.
    const at = PETER_NOTE.length - 3;
    expect(PETER_NOTE.slice(at)).toBe("M=\n");
    const accepted: string[] = [];
    for (const digit of BASE64)
      if (await signedBy(PETER_NOTE.slice(0, at) + digit + PETER_NOTE.slice(at + 1), peterVerifier)) accepted.push(digit);
    expect(accepted).toEqual(["M", "N", "O", "P"]);
  });
});
