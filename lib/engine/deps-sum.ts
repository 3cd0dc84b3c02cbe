/**
 * Hashes of dependency keys, computed by the engine itself (V8's own are out of reach) so one pass
 * over a call's tags gives both a hash per key (the filter in LocalVersions) and their sum.
 *
 * The sum (52 bits; 0: no keys) is kept per in-process entry instead of the keys: a later call with
 * the same key computes its tags again, and the sum tells whether they are the ones the entry was
 * computed with (a tags function that reads more than the key does may give others). Two
 * multiplicative lanes over the characters and each key's end; order counts. Another list with the
 * same sum is a 2^-52 chance per check, and only matters when the tags did differ.
 */

/** The second lane of the latest depHash() and the running sum: numbers, so hashing allocates nothing. */
let laneB = 0;
let sumA = 0;
let sumB = 0;

/** A 32-bit hash of one key (its second lane is kept for sumAdd). */
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

export function sumStart(): void {
  sumA = 0x01234567;
  sumB = 0x89abcdef | 0;
}

/** Adds the key whose depHash() was just computed. */
export function sumAdd(hash: number): void {
  sumA = Math.imul(sumA ^ hash, 0x01000193);
  sumB = Math.imul(sumB ^ laneB, 0x5bd1e995);
  sumB ^= sumB >>> 13;
}

export function sumEnd(): number {
  const sum = (sumA >>> 0) * 0x100000 + ((sumB >>> 0) >>> 12);
  return sum === 0 ? 1 : sum;
}

/** Two bits of a 32-bit signature for a key's hash: a list's signature is its keys' bits together. */
export function sigOf(hash: number): number {
  return (1 << (hash & 31)) | (1 << ((hash >>> 5) & 31));
}

/** The signature of a list of keys (0: none): a key whose bits are not all in it is not in the list. */
export function depsSig(deps: readonly string[] | undefined): number {
  let sig = 0;
  if (deps !== undefined) for (let i = 0; i < deps.length; i++) sig |= sigOf(depHash(deps[i]));
  return sig;
}

export function depsSum(deps: readonly string[] | undefined): number {
  if (deps === undefined || deps.length === 0) return 0;
  sumStart();
  for (let i = 0; i < deps.length; i++) sumAdd(depHash(deps[i]));
  return sumEnd();
}
