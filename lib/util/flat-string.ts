/**
 * The same string, as one flat string when it can be had cheaply. A string built by concatenation
 * (a key's shared base + its arguments, a tag's prefix + the tag) is kept by V8 as a pair of parts
 * until something flattens it: one kept for long (a Map key) then costs more than its characters.
 * normalize() flattens and returns that flat string when the text is already in NFC, as ASCII
 * always is; any other string is returned exactly as given. Only a matter of bytes: no caller may
 * depend on the result being flat.
 */
export function flatString(text: string): string {
  const normalized = text.normalize();
  return normalized === text ? normalized : text;
}
