/**
 * Reading what the verifiable audit log hands out (docs/guides/audit.md, "Proving the trail") the way an
 * auditor's tools would: the region's keys from /.well-known/audit-keys, exports split into events, proofs
 * and checkpoints, and every proof checked with the RFC 9162 algorithms against a checkpoint whose
 * signature verifies.
 */
import { expect } from "vitest";
import { eventLeafHash } from "../../src/security/transparency/leaf";
import { verifyInclusion } from "../../src/security/transparency/merkle";
import { type Checkpoint, fromBase64, openCheckpoint, parseVerifierKey, type Verifier } from "../../src/security/transparency/signed-note";
import { call } from "./call";

export type LineProof = { log: string; index: number; size: number; hashes: string[] };
export type ExportFile = { events: Record<string, unknown>[]; proofs: LineProof[]; checkpoints: string[] };

/** The region's verifier keys, as served. */
export async function regionVerifiers(): Promise<Verifier[]> {
  const res = await call("GET", "/.well-known/audit-keys", { token: null });
  expect(res.status, res.text).toBe(200);
  const keys = await Promise.all(
    res.text
      .trim()
      .split("\n")
      .map((line) => parseVerifierKey(line)),
  );
  expect(keys.every(Boolean), res.text).toBe(true);
  return keys as Verifier[];
}

/** An export's lines: its events (without `proof`), their proofs, and the last line's checkpoints. */
export function parseExport(text: string): ExportFile {
  expect(text.endsWith("\n"), "an export ends with a newline").toBe(true);
  const lines = text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const footer = lines.pop() as { checkpoints?: string[] };
  expect(Object.keys(footer)).toEqual(["checkpoints"]);
  const events = lines.map(({ proof: _proof, ...event }) => event);
  return { events, proofs: lines.map((line) => line.proof as LineProof), checkpoints: footer.checkpoints ?? [] };
}

/** A signed checkpoint opened with the region's keys (fails the test if no known key signed it). */
export async function openedCheckpoint(note: string, verifiers: Verifier[]): Promise<Checkpoint> {
  const opened = await openCheckpoint(note, verifiers);
  expect(opened, `a checkpoint the region's keys verify:\n${note}`).toBeDefined();
  return opened as Checkpoint;
}

const hashesOf = (encoded: string[]) => encoded.map((hash) => fromBase64(hash) as Uint8Array);

/** Whether the event's inclusion proof leads to the checkpoint's root. */
export const proves = (event: Record<string, unknown>, proof: LineProof, checkpoint: Checkpoint) =>
  proof.log === checkpoint.origin &&
  proof.size === checkpoint.size &&
  verifyInclusion(proof.index, proof.size, eventLeafHash(event), hashesOf(proof.hashes), checkpoint.root);

/** Checks every line of an export against its log's checkpoint in the last line; returns the checkpoints by origin. */
export async function expectVerifiedExport(file: ExportFile, verifiers: Verifier[]): Promise<Map<string, Checkpoint>> {
  const byOrigin = new Map<string, Checkpoint>();
  for (const note of file.checkpoints) {
    const opened = await openedCheckpoint(note, verifiers);
    byOrigin.set(opened.origin, opened);
  }
  for (const [i, event] of file.events.entries()) {
    const proof = file.proofs[i]!;
    const checkpoint = byOrigin.get(proof.log);
    expect(checkpoint && proves(event, proof, checkpoint), `line ${i + 1} proves its event`).toBe(true);
  }
  return byOrigin;
}
