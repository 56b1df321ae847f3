import { and, asc, count, desc, eq, getTableColumns, gt, inArray, lt, min, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { wellFormed } from "../../core/unicode";
import { eventLeafHash } from "../../security/transparency/leaf";
import {
  consistencyProof,
  equalHashes,
  type Hash,
  inclusionProof,
  rootOf,
  type SubtreeReader,
  verifyConsistency,
  verifyInclusion,
} from "../../security/transparency/merkle";
import {
  type Checkpoint,
  checkpointBody,
  openCheckpoint,
  type Signer,
  signNote,
  toBase64,
  type Verifier,
} from "../../security/transparency/signed-note";
import {
  appendLeaf,
  leafHashAt,
  MissingNodeError,
  subtreeReader,
  TILE_WIDTH,
  type TileStorage,
} from "../../security/transparency/tiled-tree";
import { listedEvent } from "../audit-events/listed";
import type { AuditEventRow } from "./queries";
import { auditEvents, checkpoints, eventTotals, logState, retractedEvents, treeTiles } from "./schema";

/**
 * One audit store's verifiable log (docs/guides/audit.md, "Proving the trail"): an RFC 9162 Merkle tree over
 * its events in append order, kept as tiles, and the checkpoints signed over it. Leaf i is the event of seq
 * i + 1; the tree only grows (a pruned or retracted event's row goes, its leaf stays). The store checks
 * itself before it hands out anything that proves: its counts add up, the event it proves is the leaf the
 * tree holds, the proof verifies, the latest checkpoint's signature verifies, and a new tree extends it.
 * A failed check is returned as an `IntegrityFailure`, never papered over: the caller answers
 * `audit_integrity_failure` and logs it.
 */

export type CheckpointRow = typeof checkpoints.$inferSelect;
export type LogState = typeof logState.$inferSelect;
export type IntegrityFailure = { integrity: string };
export type Checked<T> = T | IntegrityFailure;

export const isIntegrityFailure = (value: unknown): value is IntegrityFailure =>
  typeof value === "object" && value !== null && "integrity" in value;

/** An inclusion proof as the API and exports give it: hashes base64, leaf level first. */
export type InclusionProof = { index: number; size: number; hashes: string[] };

type StoreDb = DrizzleSqliteDODatabase;

/** Tiles read through and written back once: an append sequence's writes, kept until `flush`. */
function bufferedTiles(base: TileStorage): TileStorage & { flush(): void } {
  const written = new Map<string, { level: number; idx: number; hashes: Uint8Array }>();
  return {
    read: (level, idx) => written.get(`${level}/${idx}`)?.hashes ?? base.read(level, idx),
    write: (level, idx, hashes) => {
      written.set(`${level}/${idx}`, { level, idx, hashes });
    },
    flush: () => {
      for (const { level, idx, hashes } of written.values()) base.write(level, idx, hashes);
    },
  };
}

/**
 * The statements every append runs, built by drizzle once per store instance (its prepared queries, values
 * as placeholders): building a statement cost more CPU than SQLite took to run it, and an append to a store
 * ran six of them (docs/performance.md, "The verifiable audit log").
 */
function appendStatements(db: StoreDb) {
  const p = sql.placeholder;
  const eventColumns = Object.keys(getTableColumns(auditEvents)) as (keyof AuditEventRow)[];
  const listed = sql`(select value from json_each(${p("ids")}))`;
  return {
    state: db.select().from(logState).where(eq(logState.id, 1)).prepare(),
    saveState: db
      .update(logState)
      .set({ origin: sql`${p("origin")}`, size: sql`${p("size")}`, pruned: sql`${p("pruned")}`, retracted: sql`${p("retracted")}` })
      .where(eq(logState.id, 1))
      .prepare(),
    readTile: db
      .select({ hashes: treeTiles.hashes })
      .from(treeTiles)
      .where(and(eq(treeTiles.level, sql`${p("level")}`), eq(treeTiles.idx, sql`${p("idx")}`)))
      .prepare(),
    writeTile: db
      .insert(treeTiles)
      .values({ level: p("level"), idx: p("idx"), hashes: p("hashes") })
      .onConflictDoUpdate({ target: [treeTiles.level, treeTiles.idx], set: { hashes: sql`excluded.hashes` } })
      .prepare(),
    insertEvent: db
      .insert(auditEvents)
      .values(Object.fromEntries(eventColumns.map((column) => [column, p(column)])) as unknown as AuditEventRow)
      .onConflictDoNothing({ target: auditEvents.id })
      .returning()
      .prepare(),
    storedIds: db.select({ id: auditEvents.id }).from(auditEvents).where(inArray(auditEvents.id, listed)).prepare(),
    retractedIds: db.select({ id: retractedEvents.id }).from(retractedEvents).where(inArray(retractedEvents.id, listed)).prepare(),
  };
}

export class EventLog {
  readonly #db: StoreDb;
  readonly #tiles: TileStorage;
  readonly #statements: ReturnType<typeof appendStatements>;

  constructor(db: StoreDb) {
    this.#db = db;
    const statements = appendStatements(db);
    this.#statements = statements;
    this.#tiles = {
      read: (level, idx) => statements.readTile.get({ level, idx })?.hashes,
      write: (level, idx, hashes) => statements.writeTile.run({ level, idx, hashes }),
    };
  }

  state(): LogState {
    const state = this.#statements.state.get();
    if (!state) throw new Error("the audit store has no log_state row (migration 0004 writes it)");
    return state;
  }

  saveState(state: LogState): void {
    this.#statements.saveState.run(state);
  }

  /**
   * Which of `ids` the store holds or keeps out (retracted): one read each for a forward's rows however many
   * there are, so a forward that repeats rows another already stored (a retry, a concurrent forwarder) runs
   * no statement per row and writes nothing.
   */
  knownIds(ids: string[]): Set<string> {
    const values = { ids: JSON.stringify(ids) };
    const rows = [...this.#statements.storedIds.all(values), ...this.#statements.retractedIds.all(values)];
    return new Set(rows.map(({ id }) => id));
  }

  /**
   * Inside the caller's transaction: stores the events as the next leaves (seq = leaf + 1), in order, hashes
   * them into the tree and saves the log's state. A repeat (an event of an id stored already) adds nothing.
   * The tiles an append touches are kept in memory and written once each at the end: a forward of 500
   * events rewrites about 35 tiles, not 500. Returns the rows stored.
   */
  appendAll(events: Omit<AuditEventRow, "seq">[], state: LogState): AuditEventRow[] {
    const tiles = bufferedTiles(this.#tiles);
    const stored: AuditEventRow[] = [];
    for (const event of events) {
      // Well-formed, so every event can be hashed: one that could not would stop its workspace's queue for good.
      const row = this.#statements.insertEvent.get({ ...wellFormed(event), seq: state.size + 1 });
      if (!row) continue;
      appendLeaf(tiles, state.size, eventLeafHash(listedEvent(row)));
      state.size++;
      stored.push(row);
    }
    tiles.flush();
    this.saveState(state);
    return stored;
  }

  /**
   * A store from before the log (no origin, no leaf, but events): numbers its events 1..n in their order,
   * closing the gaps its retractions and prunes left, and appends them as the first leaves. Once: a store
   * that has appended through the log has an origin, and a row that appears later is not taken in. Each
   * event moves to a seq no larger than its own, in ascending order, so no two ever share one.
   */
  catchUp(): number {
    const state = this.state();
    if (state.origin !== null || state.size > 0) return 0;
    let added = 0;
    for (;;) {
      const rows = this.#db
        .select()
        .from(auditEvents)
        .where(gt(auditEvents.seq, state.size))
        .orderBy(asc(auditEvents.seq))
        .limit(1000)
        .all();
      if (rows.length === 0) break;
      const tiles = bufferedTiles(this.#tiles);
      for (const row of rows) {
        const seq = state.size + 1;
        // Well-formed, as appendAll stores every event: a pre-log row with a lone surrogate could not be hashed.
        const fixed = wellFormed({ ...row, seq });
        if (row.seq !== seq || JSON.stringify(fixed) !== JSON.stringify({ ...row, seq })) {
          this.#db.update(auditEvents).set(fixed).where(eq(auditEvents.seq, row.seq)).run();
        }
        appendLeaf(tiles, state.size, eventLeafHash(listedEvent(fixed)));
        state.size = seq;
        added++;
      }
      tiles.flush();
    }
    if (added > 0) this.saveState(state);
    return added;
  }

  /** The leaf hash the tree holds for `index`, base64 (for a retraction's own entry). */
  leafHash(index: number): string | undefined {
    const hash = leafHashAt(this.#tiles, index);
    return hash && toBase64(hash);
  }

  /** Whether every leaf is accounted for: an event the store holds, or one pruned or retracted by design. */
  checkCounts(state: LogState): IntegrityFailure | undefined {
    const events = this.#db.select({ events: eventTotals.events }).from(eventTotals).get()?.events ?? 0;
    if (state.size === events + state.pruned + state.retracted) return undefined;
    return {
      integrity:
        `the log has ${state.size} leaves, but the store holds ${events} events and ${state.pruned} pruned and ` +
        `${state.retracted} retracted ones`,
    };
  }

  latestCheckpoint(): CheckpointRow | undefined {
    return this.#db.select().from(checkpoints).orderBy(desc(checkpoints.size)).limit(1).get();
  }

  checkpointHistory(limit: number, offset: number): { rows: CheckpointRow[]; total: number } {
    const rows = this.#db.select().from(checkpoints).orderBy(desc(checkpoints.size)).limit(limit).offset(offset).all();
    const total = this.#db.select({ total: count() }).from(checkpoints).get()?.total ?? 0;
    return { rows, total };
  }

  /**
   * The latest checkpoint and its root, first signing one over the tree as it is now if the tree has grown
   * past it (given `covering`: only if it does not cover that leaf); undefined for an empty log. Before it
   * signs: the counts add up, the latest checkpoint verifies with the region's keys and names this log,
   * and the new tree is consistent with it. `origin` names a log that has no name yet (a store from before
   * the log, caught up but not appended to since).
   */
  async checkpoint(
    signer: Signer,
    verifiers: Verifier[],
    nowIso: string,
    covering?: number,
    origin?: string,
  ): Promise<Checked<{ row: CheckpointRow; root: Hash } | undefined>> {
    const state = this.state();
    if (state.origin === null && origin !== undefined && state.size > 0) {
      state.origin = origin;
      this.saveState(state);
    }
    const counts = this.checkCounts(state);
    if (counts) return counts;
    const latest = this.latestCheckpoint();
    const opened = latest ? await this.openCheckpoint(latest, verifiers, state) : undefined;
    if (isIntegrityFailure(opened)) return opened;
    if (latest && opened && (covering === undefined ? latest.size >= state.size : latest.size > covering)) {
      return { row: latest, root: opened.root };
    }
    if (state.size === 0) return undefined;
    if (state.origin === null) return { integrity: "the log has leaves but no origin" };
    const reader = subtreeReader(this.#tiles);
    const root = rootOf(state.size, reader);
    if (latest && opened) {
      const proof = this.#consistency(latest.size, state.size, reader);
      if (!proof || !verifyConsistency(latest.size, state.size, opened.root, root, proof)) {
        return { integrity: `the tree of ${state.size} leaves does not extend the signed checkpoint of ${latest.size}` };
      }
    }
    const note = await signNote(checkpointBody({ origin: state.origin, size: state.size, root }), signer);
    this.#db.insert(checkpoints).values({ size: state.size, note, signedAt: nowIso }).onConflictDoNothing().run();
    const row = this.#db.select().from(checkpoints).where(eq(checkpoints.size, state.size)).get();
    return row ? { row, root } : { integrity: `the checkpoint of ${state.size} was not kept` };
  }

  /** A kept checkpoint's statement, if one of the region's keys signed it for this log. */
  async openCheckpoint(row: CheckpointRow, verifiers: Verifier[], state = this.state()): Promise<Checked<Checkpoint>> {
    const opened = await openCheckpoint(row.note, verifiers);
    if (!opened || opened.size !== row.size || opened.origin !== state.origin || opened.size > state.size) {
      return { integrity: `the checkpoint of ${row.size} is not one this region's keys signed for this log` };
    }
    return opened;
  }

  /** A reader of the tree's subtrees, sharing its tile reads (one per page of proofs). */
  reader(): SubtreeReader {
    return subtreeReader(this.#tiles);
  }

  /**
   * The inclusion proof of a stored event against a checkpoint (`size`, `root`) that covers it, checked:
   * the event's bytes hash to the leaf the tree holds, and the path leads to the checkpoint's root.
   */
  proveEvent(row: AuditEventRow, size: number, root: Hash, reader: SubtreeReader): Checked<InclusionProof> {
    const index = row.seq - 1;
    const stored = leafHashAt(this.#tiles, index);
    const leaf = eventLeafHash(listedEvent(row));
    if (index >= size || !stored || !equalHashes(stored, leaf)) {
      return { integrity: `event ${row.id} is not the event leaf ${index} of the log holds` };
    }
    const path = inclusionProof(index, size, reader);
    if (!verifyInclusion(index, size, leaf, path, root)) {
      return { integrity: `the tree's path for leaf ${index} does not lead to the checkpoint of ${size}` };
    }
    return { index, size, hashes: path.map(toBase64) };
  }

  /** The consistency proof between two sizes; undefined when a prune took nodes it needs. */
  consistency(from: number, to: number): string[] | undefined {
    return this.#consistency(from, to, this.reader())?.map(toBase64);
  }

  #consistency(from: number, to: number, reader: SubtreeReader): Hash[] | undefined {
    try {
      return consistencyProof(from, to, reader);
    } catch (err) {
      if (err instanceof MissingNodeError) return undefined;
      throw err;
    }
  }

  /**
   * After a prune: deletes the bottom tiles (leaf hashes) wholly below the oldest event left and below the
   * latest checkpoint, but the last of them (an append that starts a tile checks the one before is full).
   * Every tile above stays (a sixteenth of the bytes), so every remaining event's inclusion proof, and a
   * consistency proof from the latest checkpoint or any multiple of 16, still works.
   */
  dropPrunedTiles(state: LogState): void {
    const oldest = this.#db
      .select({ seq: min(auditEvents.seq) })
      .from(auditEvents)
      .get()?.seq;
    const latest = this.latestCheckpoint()?.size ?? state.size;
    const floor = Math.min(oldest == null ? state.size : oldest - 1, latest, state.size);
    this.#db
      .delete(treeTiles)
      .where(and(eq(treeTiles.level, 0), lt(treeTiles.idx, Math.floor(floor / TILE_WIDTH) - 1)))
      .run();
  }

  /** Bytes the tree's tiles hold (for capacity figures). */
  treeBytes(): number {
    return (
      this.#db.get<{ bytes: number }>(sql`select coalesce(sum(length(${treeTiles.hashes})), 0) as bytes from ${treeTiles}`)?.bytes ?? 0
    );
  }
}
