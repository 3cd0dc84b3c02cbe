/** Values a computation produced for one response, before its entry is confirmed. */
export interface Produced {
  readonly response: object;
  readonly values: unknown[];
  /** The computation's control (FactoryControl): once it was detached, its values stand for no field waiting since. */
  readonly control: Detachable | undefined;
}
type Waiter = (produced: Produced) => unknown;
type Detachable = { detachedBy(since: number): boolean };

/**
 * GraphQL over HTTP: a field's entry waits for its response's headers (a late Set-Cookie keeps it
 * out), and that response is written once every field has resolved. A field that joined another's
 * computation of the same key (two aliases, list items sharing a `parentKey`, two requests each
 * computing what the other needs) would wait for itself until the header wait gave up. So once
 * the values exist, a joiner computed for the same response takes them; one of another request
 * waits for the entry unless its own response holds entries waiting for it — then it runs its own
 * resolver, uncached. That breaks every cycle: a request in one both waits on the next one's
 * entry and holds one, and each decided before its own entry existed, after the next one's did —
 * which no cycle of such requests can satisfy. Requests that hold none keep single-flight.
 */
export class GraphqlJoins {
  private readonly produced = new Map<string, Produced>();
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** Per response, how many of its entries wait for it to be written. */
  private readonly holding = new WeakMap<object, number>();

  /** The computation of `key` for `response` has its values; its entry now waits for the response. */
  produce(key: string, response: object, values: unknown[], control: Detachable | undefined): void {
    const produced = { response, values, control };
    this.produced.set(key, produced);
    this.holding.set(response, (this.holding.get(response) ?? 0) + 1);
    const waiters = this.waiting.get(key);
    if (waiters === undefined) return;
    this.waiting.delete(key);
    for (const waiter of waiters) waiter(produced);
  }

  /** The entry is settled (stored or not): later callers find it through the cache. */
  settled(key: string, response: object): void {
    if (this.produced.get(key)?.response === response) this.produced.delete(key);
    this.holding.set(response, (this.holding.get(response) ?? 1) - 1);
  }

  /** Whether entries computed for `response` wait for it: it must not wait on another request's. */
  holds(response: object): boolean {
    return (this.holding.get(response) ?? 0) > 0;
  }

  /**
   * Calls `waiter` once a computation of `key` has produced its values (now, if one has), unless
   * `until` (the entry) settles first — and only when those values may stand for `response`'s:
   * computed for it, or it holds entries itself (it must not wait on another request's); and not
   * when an invalidation (or a refresh) detached their computation before this field began to wait:
   * it must not get values from before an invalidation that resolved first, and its own call
   * computes again (taking them too ran the resolver twice). A field that joined earlier takes
   * them: its call waits for that computation, which returns only once this response is out.
   */
  wait(key: string, response: object, waiter: Waiter, until: Promise<unknown>): void {
    const since = performance.now();
    const filtered = (p: Produced) =>
      (p.response === response || this.holds(response)) && p.control?.detachedBy(since) !== true && waiter(p);
    const now = this.produced.get(key);
    if (now !== undefined) return void filtered(now);
    let waiters = this.waiting.get(key);
    if (waiters === undefined) this.waiting.set(key, (waiters = new Set()));
    waiters.add(filtered);
    const cancel = () => {
      const set = this.waiting.get(key);
      if (set?.delete(filtered) === true && set.size === 0) this.waiting.delete(key);
    };
    until.then(cancel, cancel);
  }
}

const shared = new WeakMap<object, GraphqlJoins>();

/**
 * The joins of one app (`owner`: its method registry). Nest makes an interceptor per module that
 * binds it (and one per subclass), and one request's fields may go through several: each must see
 * the entries the request holds in the others, or two requests wait for each other until the
 * header wait gives up (found by review).
 */
export function joinsOf(owner: object): GraphqlJoins {
  let joins = shared.get(owner);
  if (joins === undefined) shared.set(owner, (joins = new GraphqlJoins()));
  return joins;
}
