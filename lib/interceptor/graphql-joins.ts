/** Values a computation produced for one response, before its entry is confirmed. */
export interface Produced {
  readonly response: object;
  readonly values: unknown[];
}
type Waiter = (produced: Produced) => void;

/**
 * GraphQL over HTTP: a field's entry waits for its response's headers (a late Set-Cookie keeps it
 * out), and that response is written once every field has resolved. A field that joined another's
 * computation of the same key (two aliases, list items sharing a `parentKey`, two requests each
 * computing what the other needs) would wait for itself until the header wait gave up. So joiners
 * wait only for the values: those computed for their own response they take; another request's,
 * not yet confirmed shareable, they do not — they run their own resolver, uncached.
 */
export class GraphqlJoins {
  private readonly produced = new Map<string, Produced>();
  private readonly waiting = new Map<string, Set<Waiter>>();

  /** The computation of `key` for `response` has its values; its entry now waits for the response. */
  produce(key: string, response: object, values: unknown[]): void {
    const produced = { response, values };
    this.produced.set(key, produced);
    const waiters = this.waiting.get(key);
    if (waiters === undefined) return;
    this.waiting.delete(key);
    for (const waiter of waiters) waiter(produced);
  }

  /** The entry is settled (stored or not): later callers find it through the cache. */
  settled(key: string, response: object): void {
    if (this.produced.get(key)?.response === response) this.produced.delete(key);
  }

  /** Calls `waiter` once a computation of `key` has produced its values (now, if one has), unless `until` settles first. */
  wait(key: string, waiter: Waiter, until: Promise<unknown>): void {
    const now = this.produced.get(key);
    if (now !== undefined) return waiter(now);
    let waiters = this.waiting.get(key);
    if (waiters === undefined) this.waiting.set(key, (waiters = new Set()));
    waiters.add(waiter);
    const cancel = () => {
      const set = this.waiting.get(key);
      if (set?.delete(waiter) === true && set.size === 0) this.waiting.delete(key);
    };
    until.then(cancel, cancel);
  }
}
