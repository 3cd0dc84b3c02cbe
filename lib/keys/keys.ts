import { hashText } from '../util/hash-text';
import { InvalidOptionError } from '../errors';

/** Longest key kept readable; longer ones hash their argument part (memcached allows 250 bytes). */
export const MAX_READABLE_KEY_LENGTH = 200;
const SAFE_SEGMENT = /^[\x21-\x39\x3b-\x7e]+$/; // printable ASCII, no space, no ':'
const SAFE_KEY = /^[\x21-\x7e]*$/;

export function hashKeyPart(text: string): string {
  return '#' + hashText(text);
}

/**
 * `prefix:namespace:version:args`. The argument part is hashed when it is long or holds bytes
 * that some stores reject (whitespace, control, non-ASCII); '#' cannot start a readable encoding,
 * so hashed and readable keys never meet.
 */
export function composeKey(base: string, encodedArgs: string): string {
  return base + keyRest(base, encodedArgs);
}

/** What composeKey puts after `base`: the encoded arguments, or their hash. */
export function keyRest(base: string, encodedArgs: string): string {
  if (base.length + encodedArgs.length <= MAX_READABLE_KEY_LENGTH && SAFE_KEY.test(encodedArgs)) return encodedArgs;
  return hashKeyPart(encodedArgs);
}

/** `prefix:namespace:version:` — computed once per decorated method. */
export function keyBase(prefix: string, namespace: string, version: string): string {
  return `${prefix}:${namespace}:${version}:`;
}

/** Where tag invalidation timestamps live: '~' cannot start a namespace. */
export function tagKey(prefix: string, tag: string): string {
  const safe = tag.length <= 120 && SAFE_KEY.test(tag) ? tag : hashKeyPart(tag);
  return `${prefix}:~tag:${safe}`;
}

/**
 * Tag keys for a list of tags, checked: an array of non-empty strings. `where` names the caller in
 * the error; `makeError` picks the error class.
 */
export function tagKeysFor(
  prefix: string,
  tags: unknown,
  where: string,
  makeError: (message: string) => Error = (message) => new InvalidOptionError(message),
): string[] {
  if (!Array.isArray(tags)) throw makeError(`${where}: tags must be an array of strings, got ${typeof tags}.`);
  const keys: string[] = [];
  // By index, not map(): a hole is a missing tag to refuse, not one to skip into a sparse list.
  for (let i = 0; i < tags.length; i++) {
    const tag: unknown = tags[i];
    if (typeof tag !== 'string' || tag.length === 0) {
      throw makeError(`${where}: every tag must be a non-empty string, got ${JSON.stringify(tag)}.`);
    }
    keys.push(tagKey(prefix, tag));
  }
  return keys;
}

/** Namespace invalidation uses the tag scheme: an entry carries one tag per namespace segment. */
export function namespaceTagKey(prefix: string, namespace: string): string {
  return `${prefix}:~ns:${namespace}`;
}

/** Carried by every entry of an app: writing it (clear()) makes all of them stale at once. */
export function allTagKey(prefix: string): string {
  return `${prefix}:~all`;
}

/** 'UserService.getUser' -> ['UserService', 'UserService.getUser']. */
export function namespaceSegments(namespace: string): string[] {
  const parts = namespace.split('.');
  const out: string[] = [];
  for (let i = 1; i <= parts.length; i++) out.push(parts.slice(0, i).join('.'));
  return out;
}

export function validateSegment(value: unknown, option: string, where: string, maxLength: number): string {
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || text.length === 0 || text.length > maxLength || !SAFE_SEGMENT.test(text)) {
    throw new InvalidOptionError(
      `${where}: ${option} must be 1-${maxLength} printable ASCII characters without spaces or ':', got ${JSON.stringify(value)}.`,
    );
  }
  if (option === 'namespace' && text.startsWith('~')) {
    throw new InvalidOptionError(
      `${where}: namespace must not start with '~' (reserved for tags), got ${JSON.stringify(text)}.`,
    );
  }
  if (option === 'namespace' && text.split('.').includes('')) {
    // 'a..b' or '.a' would name an empty parent; 'Users.' in @CacheEvict would bust nothing.
    throw new InvalidOptionError(
      text.endsWith('.')
        ? `${where}: namespace ${JSON.stringify(text)} ends with '.': a namespace is named whole, e.g. ` +
            `'${text.replace(/\.+$/, '')}' (which covers the namespaces below it).`
        : `${where}: namespace parts are separated by single dots ('catalog.products'), got ${JSON.stringify(text)}.`,
    );
  }
  return text;
}
