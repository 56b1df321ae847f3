import { type Hash, hashChildren, type SubtreeReader } from "./merkle.ts";

/**
 * A Merkle tree kept as tiles (the layout of C2SP tlog-tiles, smaller): tile `(level, index)` holds the
 * hashes of the complete nodes at tree level `TILE_HEIGHT * level`, numbers `TILE_WIDTH * index` up to 16
 * further, one 32-byte hash after another. Only the bottom row of each tile is stored; the three levels
 * inside a tile are hashed again when read (at most 7 hashes). So the tree costs 32 bytes a leaf plus a
 * sixteenth of that for each level of tiles above (about 34 bytes a leaf in all), an append rewrites one
 * small tile (and, every 16th leaf, one more per level), and any complete subtree is one tile read.
 */
export const TILE_HEIGHT = 4;
export const TILE_WIDTH = 2 ** TILE_HEIGHT;
const HASH_BYTES = 32;

/** Where the tiles live (the audit store's `tree_tiles` table; a Map in the property tests). */
export interface TileStorage {
  read(level: number, index: number): Uint8Array | undefined;
  write(level: number, index: number, hashes: Uint8Array): void;
}

/** A node the tiles no longer hold (below a prune), or never held (past the tree's size). */
export class MissingNodeError extends Error {
  override name = "MissingNodeError";
}

const hashAt = (tile: Uint8Array, i: number) => tile.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);

/** The root of a full run of 2^k hashes (k <= TILE_HEIGHT), concatenated. */
function runRoot(hashes: Uint8Array, from: number, count: number): Hash {
  let row: Hash[] = Array.from({ length: count }, (_, i) => hashAt(hashes, from + i));
  while (row.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < row.length; i += 2) next.push(hashChildren(row[i]!, row[i + 1]!));
    row = next;
  }
  return row[0]!;
}

/**
 * Appends `leaf` as leaf number `size` (the tree's size before it), writing the tiles it completes.
 * Throws if the tiles do not end where `size` says they do: a tree the store did not write itself.
 */
export function appendLeaf(tiles: TileStorage, size: number, leaf: Hash): void {
  let level = 0;
  let position = size;
  let hash = leaf;
  for (;;) {
    const index = Math.floor(position / TILE_WIDTH);
    const slot = position % TILE_WIDTH;
    // A new tile must not exist yet, and the one before it must be full: else `size` is not where the tree ends.
    const startsTile = slot === 0;
    const tile = startsTile ? (tiles.read(level, index) ?? new Uint8Array(0)) : tiles.read(level, index);
    const before = startsTile && index > 0 ? tiles.read(level, index - 1) : undefined;
    if (
      tile === undefined ||
      tile.length !== slot * HASH_BYTES ||
      (startsTile && index > 0 && before?.length !== TILE_WIDTH * HASH_BYTES)
    ) {
      throw new MissingNodeError(`tile ${level}/${index} holds ${tile ? tile.length / HASH_BYTES : "no"} hashes, not ${slot}`);
    }
    const grown = new Uint8Array(tile.length + HASH_BYTES);
    grown.set(tile);
    grown.set(hash, tile.length);
    tiles.write(level, index, grown);
    if (slot + 1 < TILE_WIDTH) return;
    hash = runRoot(grown, 0, TILE_WIDTH);
    position = index;
    level++;
  }
}

/** Reads complete subtrees from the tiles (memoising tiles for one proof or one page of proofs). */
export function subtreeReader(tiles: TileStorage): SubtreeReader {
  const cache = new Map<string, Uint8Array | undefined>();
  const tileAt = (level: number, index: number) => {
    const key = `${level}/${index}`;
    if (!cache.has(key)) cache.set(key, tiles.read(level, index));
    return cache.get(key);
  };
  return (level, index) => {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level - tileLevel * TILE_HEIGHT);
    const first = index * span;
    const tile = tileAt(tileLevel, Math.floor(first / TILE_WIDTH));
    const from = first % TILE_WIDTH;
    if (tile === undefined || tile.length < (from + span) * HASH_BYTES) {
      throw new MissingNodeError(`node ${level}/${index} is not held`);
    }
    return runRoot(tile, from, span);
  };
}

/** The stored hash of leaf `index` (undefined once pruned). */
export function leafHashAt(tiles: TileStorage, index: number): Hash | undefined {
  const tile = tiles.read(0, Math.floor(index / TILE_WIDTH));
  const slot = index % TILE_WIDTH;
  return tile && tile.length >= (slot + 1) * HASH_BYTES ? tile.slice(slot * HASH_BYTES, (slot + 1) * HASH_BYTES) : undefined;
}
