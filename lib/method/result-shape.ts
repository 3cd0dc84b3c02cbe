import { defer, from, isObservable, lastValueFrom, mergeMap, toArray, type Observable } from 'rxjs';

/** How a method returns: decided from `design:returntype` when emitted, else from its first result. */
export type ResultShape = 'promise' | 'observable' | 'sync';

/** An Observable is cached as the array of its emissions. */
export function collect(source: Observable<unknown>): Promise<unknown[]> {
  return lastValueFrom(source.pipe(toArray()));
}

/** Replays the cached emissions, in order, on subscription. */
export function replay(values: () => Promise<unknown>): Observable<unknown> {
  return defer(() => from(values())).pipe(mergeMap((emitted) => from(emitted as unknown[])));
}

/** A method result as a plain awaited value (an Observable becomes the array of its emissions). */
export async function settle(result: unknown): Promise<unknown> {
  return isObservable(result) ? collect(result) : result;
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
