/** Work on a timer (a retry's back-off) that shutdown should not leave waiting. */
export interface WaitingWork {
  /** Starts what waits on the timer, tracked (a no-op when nothing waits). */
  startNow(): void;
  /** What is still to do, in words a log line can name. */
  undone(): string[];
}

/**
 * Work a call started but does not wait for (entry writes, background refreshes, retries of
 * failed invalidations). Shutdown waits for it, bounded, before the store's connections close:
 * an entry being written when the app stops is stored, not reported as a store failure.
 */
export class Background {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly waiting = new Set<WaitingWork>();

  get size(): number {
    return this.pending.size;
  }

  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return work;
  }

  /** Work that waits on a timer of its own: `startWaiting` starts it at once, and `undone` reports it. */
  wait(work: WaitingWork): void {
    this.waiting.add(work);
  }

  /** What waiting work still has to do (after `drain`: what shutdown leaves undone). */
  undone(): string[] {
    return [...this.waiting].flatMap((w) => w.undone());
  }

  /** Shutdown: what waits on a timer starts now, so that `drain` waits for it. */
  startWaiting(): void {
    for (const work of this.waiting) work.startNow();
  }

  /** Resolves once everything tracked has settled, or after `timeoutMs`, whichever is first. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.pending),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
        }),
      ]);
      clearTimeout(timer);
    }
  }
}
