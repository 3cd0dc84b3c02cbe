import type { Memoizer } from '../../lib/engine/memoizer';
import { CacheMemoizeEngine } from '../../lib/nest/cache-memoize.engine';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (bounded, 3 s) for the work these engines started and did not wait for (entry writes,
 * refreshes, record touches, retried invalidations) to land. A call's write is tracked before the
 * call returns; the short sleeps around the drain let a response go out first (HTTP stores after
 * it) and bus messages the writes sent arrive.
 */
export async function drained(...memoizers: readonly Memoizer[]): Promise<void> {
  await sleep(10);
  await Promise.all(memoizers.map((m) => m.ctx.background.drain(3_000)));
  await sleep(20);
}

/** `drained` for every store of these apps (a TestingModule or an INestApplication). */
export async function settle(
  ...apps: ReadonlyArray<{ get(token: typeof CacheMemoizeEngine): CacheMemoizeEngine }>
): Promise<void> {
  await drained(...apps.flatMap((app) => app.get(CacheMemoizeEngine).memoizersFor()));
}
