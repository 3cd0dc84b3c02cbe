import { randomInt } from 'node:crypto';
import { hashText } from '../../util/hash-text';

/*
 * memcached keys: at most 250 bytes of printable ASCII, so longer or unsafe keys are hashed; and
 * memcached cannot scan, so clear(prefix) bumps a generation that is part of every physical key
 * under the prefix. TTLs are whole seconds.
 */
const MAX_KEY = 250;
const SAFE = /^[\x21-\x7e]+$/;
const THIRTY_DAYS_S = 30 * 24 * 3600;

export function physicalKey(root: string, gen: string, key: string): string {
  const rest = key.slice(root.length);
  // Bookkeeping keys ('app:~tag:...', 'app:~epoch') outlive a clear(): other instances must still
  // see them before they pick up the new generation.
  if (rest.startsWith('~')) gen = '';
  const plain = `${root}${gen}|${rest}`;
  if (plain.length <= MAX_KEY && SAFE.test(plain)) return plain;
  const safeRoot = root.length <= 64 && SAFE.test(root) ? root : '';
  return `${safeRoot}${gen}|#${hashText(safeRoot ? rest : key)}`;
}

/** The part of a key up to and including its first ':' ('' when it has none). */
export function rootOf(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? '' : key.slice(0, i + 1);
}

export function generationKey(root: string): string {
  const safe = root.length <= 100 && SAFE.test(root) ? root : hashText(root);
  return `~gen|${safe}`;
}

export function newGeneration(): string {
  return randomInt(2 ** 47).toString(36);
}

/**
 * The latest absolute expiry sent: later ones overflow the protocol's 32 bits (after 2106: the
 * client throws, and a version record that cannot be written fails every invalidation), or a
 * server reading them signed (after 2038: stored as already expired).
 */
const LATEST_EXPIRY_S = 2 ** 31 - 1;

/**
 * Whole seconds, rounded up, plus one: memcached counts from its clock's current second, so a
 * record set with n seconds can go after n - 1 and a bit (an entry slower than its ttl to compute
 * vanished at once; a lock could end early). Beyond 30 days memcached wants an absolute Unix time,
 * and beyond LATEST_EXPIRY_S none (0: kept until evicted). Freshness is judged by the entry's
 * envelope either way.
 */
export function expires(ttlMs: number): number {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000)) + 1;
  if (seconds <= THIRTY_DAYS_S) return seconds;
  const at = Math.ceil(Date.now() / 1000) + seconds;
  return at <= LATEST_EXPIRY_S ? at : 0;
}
