import { createHash } from 'node:crypto';

const LONE_SURROGATE = /\p{Cs}/u;
const NOT_UTF8 = Buffer.from([0xff]);

/**
 * SHA-256 (base64url) of a string, one digest per string. UTF-8 writes every lone surrogate as
 * U+FFFD, so '\ud800', '\udc00' and '\ufffd' would share a digest: such strings are hashed from
 * their UTF-16 code units after a 0xFF byte, which no UTF-8 text contains. Well-formed strings hash
 * as UTF-8, as before (keys and tags already stored keep their names).
 */
export function hashText(text: string): string {
  const hash = createHash('sha256');
  if (LONE_SURROGATE.test(text)) hash.update(NOT_UTF8).update(Buffer.from(text, 'utf16le'));
  else hash.update(text);
  return hash.digest('base64url');
}

/**
 * An etag as an entry's header holds it (at most 255 UTF-8 bytes): a short well-formed string as
 * it is, any other by its hash (`#` and 43 characters), so a long version string still caches.
 */
export function headerEtag(etag: string): string {
  return etag.length <= 85 && !LONE_SURROGATE.test(etag) ? etag : `#${hashText(etag)}`;
}
