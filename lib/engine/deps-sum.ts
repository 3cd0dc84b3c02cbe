/**
 * Hashes of dependency keys, computed by the engine itself (V8's own are out of reach) so one pass
 * over a call's tags gives both their signature bits (the ring in LocalVersions) and their sum.
 *
 * The sum (52 bits; 0: no keys) is kept per in-process entry instead of the keys: a later call with
 * the same key computes its tags again, and the sum tells whether they are the ones the entry was
 * computed with (a tags function that reads more than the key does may give others). Two
 * multiplicative lanes over the characters and each key's end; order counts. Another list with the
 * same sum is a 2^-52 chance per check, and only matters when the tags did differ.
 */

/** The second lane of the latest depHash(): a number, so hashing allocates nothing. */
let laneB = 0;

/** A 32-bit hash of one key (its second lane is kept for callMarks). */
export function depHash(dep: string): number {
  let a = 0x811c9dc5 | 0;
  let b = 0x9747b28c | 0;
  for (let i = 0; i < dep.length; i++) {
    const c = dep.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  laneB = Math.imul(b ^ dep.length, 0x5bd1e995);
  return Math.imul(a ^ 0x10000, 0x01000193) >>> 0; // past any char code: the end of the key
}

/** Two bits of a 32-bit signature for a key's hash: a list's signature is its keys' bits together. */
export function sigOf(hash: number): number {
  return (1 << (hash & 31)) | (1 << ((hash >>> 5) & 31));
}

const NONE = Object.freeze({ sum: 0, sig: 0 });

/**
 * The sum and the signature of a list of keys (both 0: none), in one pass: a key whose bits are
 * not all in the signature is not in the list.
 */
export function callMarks(deps: readonly string[] | undefined): { readonly sum: number; readonly sig: number } {
  if (deps === undefined || deps.length === 0) return NONE;
  let a = 0x01234567;
  let b = 0x89abcdef | 0;
  let sig = 0;
  for (let i = 0; i < deps.length; i++) {
    const hash = depHash(deps[i]);
    a = Math.imul(a ^ hash, 0x01000193);
    b = Math.imul(b ^ laneB, 0x5bd1e995);
    b ^= b >>> 13;
    sig |= sigOf(hash);
  }
  const sum = (a >>> 0) * 0x100000 + ((b >>> 0) >>> 12);
  return { sum: sum === 0 ? 1 : sum, sig };
}
