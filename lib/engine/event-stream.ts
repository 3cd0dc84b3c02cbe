import { onRejection } from '../util/rejection';
import type { CacheEvent, CacheEventListener } from '../types/events';

/**
 * The in-process event stream: hit, miss, stale, set, invalidate, error, lock, circuit. Hit
 * events are produced only while someone listens, so an idle stream costs a hit nothing.
 */
export class CacheEventStream {
  private listeners: CacheEventListener[] = [];

  get active(): boolean {
    return this.listeners.length > 0;
  }

  /** Returns the function that unsubscribes. Listener errors (thrown or rejected) are swallowed. */
  subscribe(listener: CacheEventListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  publish(event: CacheEvent): void {
    for (const listener of this.listeners) {
      try {
        onRejection(listener(event), () => undefined);
      } catch {
        // a listener must never break a call
      }
    }
  }
}
