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
