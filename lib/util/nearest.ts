import { InvalidOptionError } from '../errors';

/** The known name a misspelt one most likely meant (edit distance at most 2, case aside), for "did you mean". */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; by: number } | undefined;
  for (const k of known) {
    const by = distance(k.toLowerCase(), name.toLowerCase());
    if (by <= 2 && (best === undefined || by < best.by)) best = { name: k, by };
  }
  return best?.name;
}

/** Each key of `options` that `known` (an object's keys, or a list) does not have, with the known name it most likely meant. */
export function unknownKeys(
  options: object,
  known: object | readonly string[],
): Array<{ key: string; near: string | undefined }> {
  const names = Array.isArray(known) ? (known as readonly string[]) : Object.keys(known);
  return Object.keys(options)
    .filter((key) => !names.includes(key))
    .map((key) => ({ key, near: nearest(key, names) }));
}

/**
 * Whether `name` is most likely a misspelling of `known`: the same but for case or one letter, or
 * one cut short or extended (`onErr`, `onHits`). Looser matches (`onInit` for `onHit`) are names of their own.
 */
export function misspells(name: string, known: string): boolean {
  const [a, b] = [name.toLowerCase(), known.toLowerCase()];
  return name !== known && (distance(a, b) <= 1 || a.startsWith(b) || b.startsWith(a));
}

function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/**
 * A nested option's keys (`timeout: { hrad }`, `compress: { threshhold }`): a typo there would be
 * ignored and its default kept, silently. Refused, naming the option, the key and what it takes.
 */
export function refuseStray(value: object, known: readonly string[], where: string, option: string): void {
  const [stray] = unknownKeys(value, known);
  if (stray === undefined) return;
  const { key, near } = stray;
  throw new InvalidOptionError(
    `${where}: option ${option} has no '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}; ` +
      `it takes ${known.join(', ')}.`,
  );
}
