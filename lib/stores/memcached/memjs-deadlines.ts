import type { MemcachedClientLike } from './memcached.store';
import type { MemjsInternals } from './memjs-requests';

/** A memjs server, as far as a reset goes: `error()` destroys its socket and fails what waits on it. */
interface MemjsServer {
  error(error: Error): void;
}

interface Pending {
  readonly at: number;
  done: boolean;
  readonly expire: () => void;
}

/**
 * Deadlines that all lie `ms` after they are added, hence in order: one timer for the earliest.
 * An expired one is judged in the check phase, after the poll phase has read what the sockets
 * hold: a loop blocked past a deadline does not fail a request whose answer has already arrived.
 */
class Deadlines {
  private readonly queue: Pending[] = [];
  private head = 0;
  private armed = false;

  constructor(private readonly ms: number) {}

  add(expire: () => void): Pending {
    const pending: Pending = { at: performance.now() + this.ms, done: false, expire };
    this.queue.push(pending);
    if (!this.armed) this.arm(this.ms);
    return pending;
  }

  private arm(ms: number): void {
    this.armed = true;
    setTimeout(() => setImmediate(() => this.sweep()), ms).unref?.();
  }

  private sweep(): void {
    this.armed = false;
    const now = performance.now();
    const { queue } = this;
    while (this.head < queue.length && (queue[this.head].done || queue[this.head].at <= now)) {
      const pending = queue[this.head++];
      if (!pending.done) {
        pending.done = true;
        pending.expire();
      }
    }
    // Passed entries are dropped in bulk: once all are, or once they are most of a long queue.
    if (this.head === queue.length || (this.head > 1024 && this.head * 2 > queue.length)) {
      queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.head < queue.length) this.arm(Math.max(1, queue[this.head].at - now));
  }
}

/**
 * memjs bounds a request by its socket's idle timeout (`socket.setTimeout`), and every write
 * resets that: under steady traffic a frozen or unreachable server's requests never time out (an
 * invalidation waited for as long as traffic went on; found by the fleet fuzz). Clients created
 * here fail each request not answered within `ms`, and reset its server's connection as memjs'
 * own timeout would: what still waits on it fails with it, and the next request connects again.
 */
export function boundRequests(client: MemcachedClientLike, ms: number): void {
  const memjs = client as unknown as Partial<MemjsInternals> & { server?(key: string): MemjsServer | null };
  const perform = memjs.perform;
  if (typeof perform !== 'function' || typeof memjs.server !== 'function') return;
  const deadlines = new Deadlines(ms);
  Object.defineProperty(client, 'perform', {
    configurable: true,
    writable: true,
    value(this: typeof memjs, key: string, request: Buffer, seq: number, callback?: Callback, ...rest: unknown[]) {
      let answered = false;
      const answer: Callback = (error, response) => {
        if (answered) return;
        answered = true;
        pending.done = true;
        callback?.(error, response);
      };
      const pending = deadlines.add(() => {
        const error = new Error(`memcached did not answer within ${ms} ms`);
        answer(error, null);
        this.server?.(key)?.error(error);
      });
      (perform as (...args: unknown[]) => void).call(this, key, request, seq, answer, ...rest);
    },
  });
}

type Callback = Parameters<MemjsInternals['perform']>[3];
