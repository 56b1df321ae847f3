import { sha256 } from "@noble/hashes/sha2.js";

/**
 * The Merkle tree hash of RFC 9162 §2.1 (SHA-256): a leaf is `H(0x00 || bytes)`, a node `H(0x01 || left ||
 * right)`, and a tree of n leaves splits at the largest power of two below n. Proofs are §2.1.3 (inclusion)
 * and §2.1.4 (consistency), generated from a reader of complete subtrees (the audit store's tiles) and
 * verified by the algorithms of §2.1.3.2 and §2.1.4.2. Pure and synchronous: the audit store runs it inside
 * its SQLite transaction, the offline verifier (scripts/audit-verify.mjs) in Node.
 */

export type Hash = Uint8Array;

/**
 * The hash of the complete subtree at `level` (2^level leaves) and position `index`: leaves
 * [index * 2^level, (index + 1) * 2^level). Throws if the reader does not hold it (e.g. pruned).
 */
export type SubtreeReader = (level: number, index: number) => Hash;

export function hashLeaf(bytes: Uint8Array): Hash {
  const input = new Uint8Array(bytes.length + 1);
  input.set(bytes, 1);
  return sha256(input);
}

export function hashChildren(left: Hash, right: Hash): Hash {
  const input = new Uint8Array(65);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 33);
  return sha256(input);
}

/** Whether n is a power of two (exactly: powers of two are exact doubles, a rounded log2 is not trusted alone). */
const isPowerOfTwo = (n: number) => n > 0 && 2 ** Math.round(Math.log2(n)) === n;

/** The largest power of two smaller than n (n > 1), corrected where log2 rounds near a power of two. */
function splitOf(n: number): number {
  let k = 2 ** Math.floor(Math.log2(n - 1));
  if (k >= n) k /= 2;
  if (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[start:end]) per RFC 9162, from complete subtrees: the ranges the proofs ask for are aligned. */
function rangeHash(start: number, end: number, subtree: SubtreeReader): Hash {
  const n = end - start;
  if (n < 1) throw new RangeError(`empty range ${start}..${end}`);
  if (isPowerOfTwo(n) && start % n === 0) return subtree(Math.round(Math.log2(n)), start / n);
  const k = splitOf(n);
  return hashChildren(rangeHash(start, start + k, subtree), rangeHash(start + k, end, subtree));
}

/** The root of the tree of the first `size` leaves (size > 0). */
export const rootOf = (size: number, subtree: SubtreeReader): Hash => rangeHash(0, size, subtree);

/** PATH(index, D[0:size]) of RFC 9162 §2.1.3.1: the audit path, leaf level first. */
export function inclusionProof(index: number, size: number, subtree: SubtreeReader): Hash[] {
  if (!(index >= 0 && index < size)) throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  const path: Hash[] = [];
  const walk = (m: number, start: number, end: number) => {
    const n = end - start;
    if (n === 1) return;
    const k = splitOf(n);
    if (m < k) {
      walk(m, start, start + k);
      path.push(rangeHash(start + k, end, subtree));
    } else {
      walk(m - k, start + k, end);
      path.push(rangeHash(start, start + k, subtree));
    }
  };
  walk(index, 0, size);
  return path;
}

/** PROOF(from, D[0:to]) of RFC 9162 §2.1.4.1 (0 < from <= to): empty when the sizes are equal. */
export function consistencyProof(from: number, to: number, subtree: SubtreeReader): Hash[] {
  if (!(from > 0 && from <= to)) throw new RangeError(`no consistency proof from ${from} to ${to}`);
  const proof: Hash[] = [];
  const walk = (m: number, start: number, end: number, whole: boolean) => {
    const n = end - start;
    if (m === n) {
      if (!whole) proof.push(rangeHash(start, end, subtree));
      return;
    }
    const k = splitOf(n);
    if (m <= k) {
      walk(m, start, start + k, whole);
      proof.push(rangeHash(start + k, end, subtree));
    } else {
      walk(m - k, start + k, end, false);
      proof.push(rangeHash(start, start + k, subtree));
    }
  };
  walk(from, 0, to, true);
  return proof;
}

export const equalHashes = (a: Hash, b: Hash) => a.length === b.length && a.every((byte, i) => byte === b[i]);

/** RFC 9162 §2.1.3.2: whether `path` proves leaf `index` (hash `leaf`) in the tree of `size` with `root`. */
export function verifyInclusion(index: number, size: number, leaf: Hash, path: Hash[], root: Hash): boolean {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(r, root);
}

/** RFC 9162 §2.1.4.2: whether `proof` shows the tree of `to` (root `toRoot`) extends that of `from` (`fromRoot`). */
export function verifyConsistency(from: number, to: number, fromRoot: Hash, toRoot: Hash, proof: Hash[]): boolean {
  if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from > 0 && from <= to)) return false;
  if (from === to) return proof.length === 0 && equalHashes(fromRoot, toRoot);
  const path = [...proof];
  // A power of two `from` is itself the first node of the path.
  if (isPowerOfTwo(from)) path.unshift(fromRoot);
  let fn = from - 1;
  let sn = to - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  const [first, ...rest] = path;
  if (first === undefined) return false;
  let fr = first;
  let sr = first;
  for (const c of rest) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalHashes(fr, fromRoot) && equalHashes(sr, toRoot);
}
