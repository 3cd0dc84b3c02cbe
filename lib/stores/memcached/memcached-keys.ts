import { createHash, randomInt } from 'node:crypto';

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
  return `${safeRoot}${gen}|#${createHash('sha256')
    .update(safeRoot ? rest : key)
    .digest('base64url')}`;
}

/** The part of a key up to and including its first ':' ('' when it has none). */
export function rootOf(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? '' : key.slice(0, i + 1);
}

export function generationKey(root: string): string {
  const safe = root.length <= 100 && SAFE.test(root) ? root : createHash('sha256').update(root).digest('base64url');
  return `~gen|${safe}`;
}

export function newGeneration(): string {
  return randomInt(2 ** 47).toString(36);
}

/** Whole seconds, rounded up; beyond 30 days memcached wants an absolute Unix time. */
export function expires(ttlMs: number): number {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
  return seconds > THIRTY_DAYS_S ? Math.ceil(Date.now() / 1000) + seconds : seconds;
}
