/**
 * The lines of an export's NDJSON (docs/guides/audit.md, "Proving the trail"): one event a line, as
 * list-audit-events shows it plus its proof, then a last line naming the signed checkpoints the proofs lead
 * to. Written by an export made within its request and by one its workflow makes alike; and the writer an
 * export made within its request streams them to R2 with.
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

/**
 * Writes NDJSON to R2 without holding the export in memory: bytes fill one fixed-size buffer; each full
 * buffer becomes a multipart part. An export that fits one buffer is a single put.
 */
export class ObjectWriter {
  #buffer: Uint8Array;
  #filled = 0;
  #upload: R2MultipartUpload | undefined;
  #parts: R2UploadedPart[] = [];
  size = 0;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: string,
    partBytes: number,
  ) {
    this.#buffer = new Uint8Array(partBytes);
  }

  async write(bytes: Uint8Array) {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#buffer.length - this.#filled);
      this.#buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#buffer.length) await this.#flushPart();
    }
    this.size += bytes.length;
  }

  async #flushPart() {
    this.#upload ??= await r2(this.bucket.createMultipartUpload(this.key, { httpMetadata: NDJSON }));
    this.#parts.push(await r2(this.#upload.uploadPart(this.#parts.length + 1, this.#buffer.slice(0, this.#filled))));
    this.#filled = 0;
  }

  async finish() {
    if (!this.#upload) {
      await r2(this.bucket.put(this.key, this.#buffer.subarray(0, this.#filled), { httpMetadata: NDJSON }));
      return;
    }
    if (this.#filled > 0) await this.#flushPart();
    await r2(this.#upload.complete(this.#parts));
  }

  async abort() {
    await this.#upload?.abort();
  }
}
