import type { MemoizePolicy } from './memoizer';

/**
 * A remote lookup waiting for its batch. With a factory it is a call (it settles with the
 * method's value); without one it is an inspection (it settles with the Lookup).
 */
export class PendingRead {
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly key: string,
    readonly policy: MemoizePolicy<never>,
    readonly factory: (() => unknown) | undefined,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * Collects the reads started before the end of the current microtask queue and hands them over
 * together, so a burst of lookups costs the store one multi-key read (one MGET on Redis) rather
 * than one command each. A read only joins a batch that has not been sent yet: it sees every
 * write that completed before it started. Batches are capped at `maxSize` reads.
 */
export class ReadBatcher<T> {
  private pending: T[] | undefined;

  constructor(
    private readonly maxSize: number,
    private readonly send: (items: T[]) => void,
  ) {}

  add(item: T): void {
    const pending = this.pending;
    if (pending === undefined) {
      this.pending = [item];
      queueMicrotask(this.flush);
      return;
    }
    pending.push(item);
    if (pending.length >= this.maxSize) this.flush();
  }

  private readonly flush = (): void => {
    const items = this.pending;
    if (items === undefined) return;
    this.pending = undefined;
    this.send(items);
  };
}
