import type { CachePolicy, CallScope } from '../types/policy';
import { CacheMemoizeTimeoutError } from '../errors';
import { FactoryControl } from './factory-control';
import type { Flights } from './flights';
import { computingSync, currentControl } from './reentry';

type GetOrSet = <T>(key: string, factory: () => Promise<T>, policy: CachePolicy, scope?: CallScope) => Promise<T>;

/**
 * Loads the items at these positions of the batch, in one call; resolves to their values in the
 * same order (the caller checks alignment and rejects when it cannot tell which value is whose).
 */
export type BatchLoader<T> = (positions: readonly number[]) => Promise<readonly T[]>;

interface Waiting<T> {
  position: number;
  /** The item's own computation's control: takes what the method call said (cacheContext()). */
  control: FactoryControl | undefined;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/**
 * Many keys, each its own entry, decided by the same path as a single call (so every guarantee of
 * getOrSet holds per item: versions, checked joins, grace, locks, tiers) — but the items that have
 * to be computed are loaded together. Every lookup starts in the same tick, so a shared store
 * answers them in one multi-key read. Each item's factory parks until every item is accounted for:
 * answered, waiting for a computation it did not start (another call's, another process's lock),
 * or parked. Then one load (split by `maxBatch`) computes the parked ones. An item that needs
 * computing later (a join that an invalidation overtook, a refresh after serving stale) is loaded
 * with the others that come in the same turn of the event loop.
 *
 * `keys` must be distinct. Resolves to the values aligned with `keys`; rejects with the first error.
 */
export function getOrSetMany<T>(
  getOrSet: GetOrSet,
  keys: readonly string[],
  load: BatchLoader<T>,
  policy: CachePolicy,
  scopes: ReadonlyArray<CallScope | undefined> | undefined,
  maxBatch = Infinity,
  /** Once one item passed its hard timeout, every item's computation is overdue (see below). */
  flights?: Flights,
): Promise<T[]> {
  const calledAt = performance.now();
  let gaveUp = false;
  const total = keys.length;
  if (total === 0) return Promise.resolve([]);
  const accounted = new Uint8Array(total);
  let count = 0;
  let parked: Array<Waiting<T>> = [];
  let flushed = false;
  let later: NodeJS.Immediate | undefined;

  const flush = (): void => {
    later = undefined;
    flushed = true;
    const batch = parked;
    parked = [];
    for (let i = 0; i < batch.length; i += maxBatch) run(batch.slice(i, i + maxBatch));
  };
  const run = (chunk: Array<Waiting<T>>): void => {
    let loading: Promise<readonly T[]>;
    const said = new FactoryControl(chunk[0].control?.prefix ?? '', policy.owner);
    said.background = chunk.every((w) => w.control?.background === true); // else the caller waits for it
    try {
      // Marked as computing: the method calling a memoized method of these very keys does not wait
      // for itself, and its cacheContext() speaks for every item it loads.
      loading = computingSync(
        chunk.map((w) => keys[w.position]),
        () => load(chunk.map((w) => w.position)),
        said,
      );
    } catch (error) {
      loading = Promise.reject(error);
    }
    loading.then(
      (values) => {
        said.closed = true; // what the load says from now on is read by nobody (cacheContext() refuses it)
        chunk.forEach((w, i) => {
          w.control?.absorb(said);
          w.resolve(values[i]);
        });
      },
      (error: unknown) => {
        said.closed = true;
        chunk.forEach((w) => w.reject(error));
      },
    );
  };
  const account = (position: number): void => {
    if (accounted[position] === 1) return;
    accounted[position] = 1;
    if (++count === total) flush();
  };

  const calls = keys.map((key, position) => {
    const scope = scopes?.[position];
    const itemScope: CallScope = { ...scope, waiting: () => account(position), abandoned: () => gaveUp };
    const factory = (): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        parked.push({ position, control: currentControl(), resolve, reject });
        if (!flushed) account(position);
        else later ??= setImmediate(flush);
      });
    let call: Promise<T>;
    try {
      call = getOrSet(key, factory, policy, itemScope);
    } catch (error) {
      call = Promise.reject(error);
    }
    call.then(
      () => account(position),
      () => account(position),
    );
    return call;
  });
  const hard = policy.hardTimeoutMs;
  if (hard === undefined || flights === undefined) return Promise.all(calls);
  // The first item's timer rejects the call; the others fire a moment later. A retry in between
  // (`catch(() => many(ids))`) must not join the computations the call gave up on.
  return Promise.all(calls).catch((error: unknown) => {
    if (error instanceof CacheMemoizeTimeoutError) {
      gaveUp = true; // items whose lookup is still under way start computations nobody joins
      for (const key of keys) flights.overdue(key, calledAt, hard);
    }
    throw error;
  });
}
