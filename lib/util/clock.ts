const TIME_ORIGIN = performance.timeOrigin;
// Held once: the global `performance` is a lazy getter, a cost on every read of a hot path.
const perf = performance;

/**
 * The engine's clock: the wall time at process start plus monotonic time since. Cheaper than
 * Date.now(), one reading can serve both expiry and a bus lease, and a wall-clock step (NTP) never
 * makes entries expire or come back at once. Correctness never depends on clocks agreeing.
 */
export function monotonicWallClock(): number {
  return TIME_ORIGIN + perf.now();
}

/** The performance.now() reading matching a reading of monotonicWallClock(). */
export function monotonicOf(reading: number): number {
  return reading - TIME_ORIGIN;
}

/** Readings one clock read serves: bounds staleness when the loop never reaches its timers. */
const USES_PER_READ = 64;
let cached = 0;
let uses = 0;
let timer: NodeJS.Timeout | undefined;
const expire = (): void => {
  timer = undefined;
  uses = 0;
};

/**
 * monotonicWallClock() read at most once per millisecond, and at least once per 64 readings
 * (lru-cache's ttlResolution, bounded by work too): checking an in-process entry's expiry mostly
 * costs no clock read. A reading is at most a millisecond or 64 readings old, so an entry can be
 * served that much past its ttl — or, right after the event loop was blocked, for up to 64 more
 * readings. Only expiry uses it: never invalidation, never a bus lease.
 */
export function coarseWallClock(): number {
  if (--uses > 0) return cached;
  cached = monotonicWallClock();
  uses = USES_PER_READ;
  if (timer === undefined) {
    timer = setTimeout(expire, 1);
    timer.unref();
  }
  return cached;
}
