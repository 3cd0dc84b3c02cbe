import type { CacheEvent } from '../../lib';

/**
 * Writes land in the background after a call returns: waits (bounded, 2 s) for the 'set' event of
 * `key` among the events an app reported, before a test reads the store behind the engine's back.
 */
export async function written(events: readonly CacheEvent[], key: string): Promise<void> {
  for (let t = 0; t < 200 && !events.some((e) => e.type === 'set' && e.key === key); t++) {
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}

/**
 * Waits (bounded, 2 s) until `probe` finds something: for a write that lands in the background
 * after a call returns, probed through the store (e.g. `() => cacheHandle(svc, 'get').peek(1)`),
 * where no events were recorded.
 */
export async function landed(probe: () => Promise<unknown>): Promise<void> {
  for (let t = 0; t < 200 && (await probe()) === undefined; t++) {
    await new Promise<void>((r) => setTimeout(r, 10));
  }
}
