/**
 * The lines of an export's NDJSON (docs/guides/audit.md, "Proving the trail"): one event a line, as
 * list-audit-events shows it plus its proof, then a last line naming the signed checkpoints the proofs lead
 * to. Written by an export made within its request and by one its workflow makes alike.
 */
import { unavailableOnFailure } from "../core/errors";
import { listedEvent } from "./audit-events/listed";
import type { ProvenEvent } from "./audit-store/trail";

/** An event's line: the event, and its inclusion proof in the log `log`. */
export const eventLine = ({ row, proof }: ProvenEvent, log: string) =>
  `${JSON.stringify({ ...listedEvent(row), proof: { log, ...proof } })}\n`;

/** The last line: the signed checkpoints (notes) of the years the file holds events of. */
export const checkpointsLine = (checkpoints: string[]) => `${JSON.stringify({ checkpoints })}\n`;

export const NDJSON = { contentType: "application/x-ndjson" };

/** R2 multipart parts: every part but the last must have the same size, at least 5 MiB. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

/** An R2 call whose failure is a 503 (retry), never a 500 carrying R2's text. */
export const r2 = <T>(call: Promise<T>) => unavailableOnFailure(() => call, "Export storage is temporarily unavailable; retry shortly.");
