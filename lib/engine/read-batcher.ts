/**
 * Collects the items added before the end of the current microtask queue and hands them over
 * together, so a burst of lookups costs the store one multi-key read (one MGET on Redis) rather
 * than one command each. An item only joins a batch that has not been sent yet: it sees every
 * write that completed before it was added. Batches are capped at `maxSize` items.
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
