import { InvalidOptionError } from '../errors';

/**
 * A duration: milliseconds (a number, or a numeric string such as '30000' from an environment
 * variable), or a string such as '500ms', '30s', '5m', '1h', '1d'.
 */
export type Duration = number | `${number}` | `${number}${DurationUnit}` | `${number} ${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/**
 * Parses a duration to whole milliseconds. `where` names the option and its owner so the
 * error tells the user exactly what to fix (e.g. `ttl of UserService.getUser`).
 */
export function parseDuration(
  value: unknown,
  where: string,
  opts: { allowZero?: boolean; timer?: boolean } = {},
): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const m = PATTERN.exec(value);
    if (!m) {
      throw new InvalidOptionError(
        `${where}: cannot parse duration ${JSON.stringify(value)}. Use milliseconds (30000 or '30000') or a string like '500ms', '30s', '5m', '1h', '1d'.`,
      );
    }
    ms = Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as DurationUnit]; // a bare number is milliseconds
  } else {
    throw new InvalidOptionError(
      `${where}: expected a duration (milliseconds or a string like '30s'), got ${describe(value)}.`,
    );
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !opts.allowZero)) {
    throw new InvalidOptionError(
      `${where}: duration must be a finite number of milliseconds ${opts.allowZero ? '>= 0' : '> 0'}, got ${String(value)}.`,
    );
  }
  // Node runs a longer timer after 1 ms; stores reject expiries past a 64-bit integer.
  const max = opts.timer === true ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
  if (ms > max) {
    throw new InvalidOptionError(
      `${where}: duration ${String(value)} is longer than ${max} ms` +
        (opts.timer === true
          ? ` (about 24.8 days), the longest a Node timer can wait: a longer one fires at once. Use at most '24d'.`
          : ` (Number.MAX_SAFE_INTEGER), the longest a store can hold.`),
    );
  }
  return Math.ceil(ms);
}

/** The longest delay setTimeout honours (2^31 - 1 ms). */
export const MAX_TIMER_MS = 2_147_483_647;

export function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'null prototype'})`;
  return `${typeof value} ${String(value)}`;
}

/** parseDuration's options for a duration a timer waits (timeouts, leases, refresh periods). */
export const TIMER = { timer: true } as const;
