import { StoreFailureError } from '../errors';
import type { WaitingWork } from './background';
import type { EngineContext } from './context';

/**
 * Invalidations that could not be written. The call that asked for one rejects; from then on this
 * instance treats the dependencies as invalidated (entries carrying them are misses and nothing
 * computed on them is stored) and retries in the background until the store takes it, or until
 * shutdown: then it tries once more, and what still failed is reported (`undone`).
 */
export class FailedInvalidations implements WaitingWork {
  /**
   * Dependencies whose invalidation is not yet durable, with the number of the failure that left
   * each there: a write takes off only what failed before it started, never a later failure.
   */
  readonly deps = new Map<string, number>();
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private delayMs = 500;
  private stopped = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly write: (deps: readonly string[]) => Promise<void>,
  ) {
    ctx.background.wait(this);
  }

  affects(deps: readonly string[]): boolean {
    if (this.deps.size === 0) return false;
    return deps.some((d) => this.deps.has(d));
  }

  async attempt(deps: readonly string[], run: () => Promise<void>): Promise<void> {
    const started = this.failures;
    try {
      // Tracked: shutdown waits for it (bounded) and reports it if it failed.
      await this.ctx.background.track(run());
    } catch (error) {
      const failure = ++this.failures;
      for (const d of deps) this.deps.set(d, failure);
      this.schedule();
      const reason = error instanceof Error ? error.message : String(error);
      const operation =
        error instanceof StoreFailureError && error.operation !== undefined ? error.operation : 'invalidate';
      // At shutdown nothing retries it: saying it would be retried sent people looking for a write that never came.
      const then = this.ctx.closing
        ? `This instance is shutting down and does not retry it; other instances sharing the store may serve the ` +
          `affected entries until they expire or an invalidation of them succeeds.`
        : `This instance serves none of the affected entries and retries in the background; other instances sharing ` +
          `the store may serve them until it succeeds.`;
      throw new StoreFailureError(
        `store '${this.ctx.name}' could not record an invalidation (${describeDeps(deps)}): ${reason}. ${then}`,
        error,
        { store: this.ctx.name, operation },
      );
    }
    this.settled(deps, started);
  }

  /** Shutdown begins: a retry waiting for its back-off runs now, so that shutdown's wait covers it. */
  startNow(): void {
    if (this.timer === undefined || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.retry();
  }

  /** Dependencies whose invalidation is not written yet. */
  undone(): string[] {
    return [...this.deps.keys()];
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** `deps` were written: durable, unless an invalidation of one failed after the write began. */
  private settled(deps: readonly string[], started: number): void {
    for (const d of deps) if ((this.deps.get(d) ?? Infinity) <= started) this.deps.delete(d);
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.delayMs = Math.min(this.delayMs * 2, 30_000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.retry();
    }, this.delayMs);
    this.timer.unref?.();
  }

  private retry(): void {
    const deps = [...this.deps.keys()];
    if (deps.length === 0) return;
    const started = this.failures;
    void this.ctx.background.track(
      this.write(deps).then(
        () => {
          this.settled(deps, started);
          this.delayMs = 500;
          // Failed again while this write ran: that one is still to be written.
          if (this.deps.size > 0) this.schedule();
        },
        () => this.schedule(),
      ),
    );
  }
}

export function describeDeps(deps: readonly string[]): string {
  const shown = deps.slice(0, 3).join(', ');
  return deps.length > 3 ? `${shown} and ${deps.length - 3} more` : shown;
}
