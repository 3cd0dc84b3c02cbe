import { asBuffer } from '../util/bytes';
import { withDeadline } from '../util/deadline';
import type { EngineContext } from './context';
import type { Snapshot } from './flights';
import { ReadBatcher } from './read-batcher';

/** Keys share version records by hash bucket: one record per bucket, not one per entry. */
export const KEY_BUCKETS = 65_536;
const DAY_MS = 86_400_000;
const encode = (text: string): Buffer => Buffer.from(text, 'latin1');
const decode = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : asBuffer(bytes).toString('latin1');

interface TokenRead {
  keys: readonly string[];
  resolve(tokens: Array<string | undefined> | undefined): void;
}

/**
 * Versions, not clocks, in a shared store. Every dependency — a tag, a namespace segment, the
 * app's clear key, and each entry key's bucket (keys as implicit tags) — has a version token; an
 * invalidation of tags replaces the epoch token, writes new tokens, then replaces the epoch token
 * again (key invalidations only after). A computation reads the tokens of
 * its dependencies before it runs and its entry records them with the epoch it read; an entry is
 * fresh while the epoch is unchanged, or, once it moved, while every recorded token is still the
 * current one. A missing record counts as changed, so an evicted or expired record costs a
 * recomputation, never a stale hit; a late write of a computation that an invalidation overtook
 * carries old tokens and is never served. No host clock takes part.
 */
export class RemoteVersions {
  readonly epochKey: string;
  private readonly root: string;
  /** Lifetime of version records: they must outlive the entries that record them (else: a recomputation). */
  private recordTtlMs = 7 * DAY_MS;
  private readonly reads = new ReadBatcher<TokenRead>(64, (batch) => this.sendReads(batch));
  private seeding: Promise<void> | undefined;
  /** Version tokens this process read, all under one epoch. */
  private known: { epoch: string | undefined; tokens: Map<string, string> } = { epoch: undefined, tokens: new Map() };
  /** When this process last extended each record's lifetime (performance.now()). */
  private readonly touched = new Map<string, number>();

  constructor(private readonly ctx: EngineContext) {
    this.root = `${ctx.prefix}:`;
    this.epochKey = `${ctx.prefix}:~epoch`;
  }

  /** Records live at least twice as long as the longest entry lifetime seen. */
  registerLifetime(ms: number): void {
    if (ms * 2 > this.recordTtlMs) this.recordTtlMs = ms * 2;
  }

  /** The implicit tag of an entry key: its bucket's version record. */
  bucketOf(key: string): string {
    // FNV-1a: cheap, and stable across processes (the bucket must be the same everywhere).
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return `${this.root}~kb:${(h >>> 0) % KEY_BUCKETS}`;
  }

  /** Current tokens of `deps` (undefined where a record is missing); undefined when the store failed. */
  read(deps: readonly string[]): Promise<Array<string | undefined> | undefined> {
    if (deps.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => this.reads.add({ keys: deps, resolve }));
  }

  /**
   * The current epoch token, read within the operation timeout. Undefined when the store did not
   * answer in time; `{ epoch: undefined }` when its record is missing (counts as moved).
   */
  readEpoch(): Promise<{ epoch: string | undefined } | undefined> {
    const read = withDeadline(this.read([this.epochKey]), this.ctx.operationTimeoutMs);
    return read.then((tokens) => (tokens === undefined ? undefined : { epoch: tokens[0] }));
  }

  /**
   * What a computation records before it runs: the epoch and the tokens of its dependencies, read
   * together, creating the records that are missing (the entry is then stale for anyone who read
   * the old one, and fresh for this computation). Undefined when the store cannot answer: the
   * value is then not stored.
   */
  async snapshot(deps: readonly string[], epochSeen?: string): Promise<Snapshot | undefined> {
    // Tokens read under an epoch are still current while that epoch is (every invalidation
    // replaces the epoch after its tokens): a computation whose own lookup read the same epoch
    // needs no read when this process knows them all.
    if (epochSeen !== undefined && epochSeen === this.known.epoch) {
      const tokens: string[] = [];
      for (const d of deps) {
        const t = this.known.tokens.get(d);
        if (t === undefined) break;
        tokens.push(t);
      }
      if (tokens.length === deps.length) return { epoch: epochSeen, deps, tokens };
    }
    const keys = [this.epochKey, ...deps];
    const read = await this.read(keys);
    if (read === undefined) return undefined;
    const complete = await this.createMissing(keys, read);
    if (complete === undefined) return undefined;
    // Records just created (ours or a concurrent writer's) start a full lifetime: not touched.
    const now = performance.now();
    keys.forEach((k, i) => read[i] === undefined && this.touched.set(k, now));
    this.touch(keys.filter((_, i) => read[i] !== undefined));
    this.remember(complete[0], deps, complete.slice(1));
    return { epoch: complete[0], deps, tokens: complete.slice(1) };
  }

  /**
   * A snapshot taken from the entry a lookup just judged current under `epoch` (by its header, or by
   * reading its tokens), with no store command. Its tokens are current or older (a key
   * invalidation under way may have written a newer one): an invalidation after the lookup, or one
   * under way, leaves the entry computed from it stale, as it would one read at the lookup.
   * Undefined when the entry does not list all of `deps`, or cannot (the computation then reads
   * them: `snapshot`).
   */
  snapshotFrom(
    epoch: string | undefined,
    deps: readonly string[],
    entry: { dependencies(prefix: string): { deps: readonly string[]; tokens: readonly string[] } },
  ): Snapshot | undefined {
    if (epoch === undefined) return undefined;
    let recorded: { deps: readonly string[]; tokens: readonly string[] };
    try {
      recorded = entry.dependencies(this.ctx.prefix); // judged by its header, the list was not parsed yet
    } catch {
      return undefined;
    }
    const tokens: string[] = [];
    for (const d of deps) {
      const at = recorded.deps.indexOf(d);
      if (at < 0) return undefined;
      tokens.push(recorded.tokens[at]);
    }
    this.touch(deps);
    return { epoch, deps, tokens };
  }

  /** Tokens known under `epoch` (a different epoch forgets every token known before). */
  private remember(epoch: string, deps: readonly string[], tokens: readonly string[]): void {
    if (epoch !== this.known.epoch || this.known.tokens.size > 50_000) this.known = { epoch, tokens: new Map() };
    deps.forEach((d, i) => this.known.tokens.set(d, tokens[i]));
  }

  /**
   * At write time, for dependencies known only from the result: their tokens, provided no
   * invalidation began since `snapshot` was taken — the epoch is read again after the tokens, and
   * every tag invalidation moves it before it writes a token (`invalidate`), so a token read new
   * means an epoch read after it is new too. `'overtaken'`: one began, and the value (which may
   * predate it) is not stored; undefined: the store could not answer.
   */
  async extend(snapshot: Snapshot, extra: readonly string[]): Promise<Snapshot | 'overtaken' | undefined> {
    const added = extra.filter((d) => !snapshot.deps.includes(d));
    if (added.length === 0) return snapshot;
    if (snapshot.epoch === undefined) return undefined;
    const before = await this.read([this.epochKey, ...added]);
    if (before === undefined) return undefined;
    if (before[0] !== snapshot.epoch) return 'overtaken';
    const tokens = await this.createMissing(added, before.slice(1));
    if (tokens === undefined) return undefined;
    const after = await this.read([this.epochKey]);
    if (after === undefined) return undefined;
    if (after[0] !== snapshot.epoch) return 'overtaken';
    return { epoch: snapshot.epoch, deps: [...snapshot.deps, ...added], tokens: [...snapshot.tokens, ...tokens] };
  }

  /** Fresh when every recorded token is still current (one batched read). Undefined: the store failed. */
  async unchanged(deps: readonly string[], tokens: readonly string[]): Promise<boolean | undefined> {
    const now = await this.read(deps);
    if (now === undefined) return undefined;
    for (let i = 0; i < deps.length; i++) if (now[i] === undefined || now[i] !== tokens[i]) return false;
    return true;
  }

  /**
   * Writes new tokens for `deps`, then a new epoch: a reader that sees the new epoch finds them.
   * `moveFirst` (tags; not needed for key buckets, which no result adds): the epoch also moves
   * before the tokens, so a computation that reads a tag's token only when it ends (`extend`)
   * sees an invalidation under way. Rejects (StoreFailureError) when any write fails: the
   * invalidation did not happen everywhere.
   */
  async invalidate(deps: readonly string[], moveFirst = true): Promise<void> {
    const { guard, store } = this.ctx;
    const ttl = this.recordTtlMs;
    if (moveFirst) await this.moveEpoch();
    await Promise.all(
      deps.map((d) => guard.run('set', d, () => store.set(d, encode(this.ctx.token()), ttl), undefined, true)),
    );
    await this.moveEpoch();
  }

  /**
   * Replaces `dep`'s token by a new one only if it still is `expected` (compare-and-set), then
   * moves the epoch as `invalidate` does — from `epoch` by compare-and-set too: when that applies,
   * no invalidation began since `epoch` was read (each moves it), and the new one resolves with
   * the token (an entry recording it is fresh while it holds); else the epoch is replaced and
   * `epoch` resolves. Undefined, with nothing written: `dep` holds another token (an
   * invalidation came since), or the store cannot compare-and-set.
   */
  async swap(dep: string, expected: string, epoch: string | undefined, token = this.ctx.token()) {
    const { guard, store } = this.ctx;
    const cas = store.compareAndSet?.bind(store);
    if (cas === undefined) return undefined;
    const ttl = this.recordTtlMs;
    if (!(await guard.run('compareAndSet', dep, () => cas(dep, encode(expected), encode(token), ttl), false, true)))
      return undefined;
    const next = this.ctx.token();
    const write = () => cas(this.epochKey, encode(epoch ?? ''), encode(next), ttl);
    if (epoch !== undefined && (await guard.run('compareAndSet', this.epochKey, write, false, true)))
      return { token, epoch: next };
    await this.moveEpoch();
    return { token, epoch };
  }

  private moveEpoch(): Promise<void> {
    const { guard, store } = this.ctx;
    const write = () => store.set(this.epochKey, encode(this.ctx.token()), this.recordTtlMs);
    return guard.run('set', this.epochKey, write, undefined, true);
  }

  /** A missing epoch counts as moved; the first reader to see it missing puts one back. */
  seedEpoch(): void {
    if (this.seeding !== undefined) return;
    const { guard, store } = this.ctx;
    this.seeding = guard
      .run('add', this.epochKey, () => store.add(this.epochKey, encode(this.ctx.token()), this.recordTtlMs), false)
      .then((added) => {
        if (added) this.touched.set(this.epochKey, performance.now()); // a full lifetime ahead
      })
      .finally(() => {
        this.seeding = undefined;
      });
  }

  /** Keeps records in use alive (stores that can); never awaited by a call. */
  private touch(deps: readonly string[]): void {
    const touch = this.ctx.store.touch?.bind(this.ctx.store);
    if (touch === undefined) return;
    // At most once per record per quarter of its lifetime, per process: a record in use stays
    // alive, and a miss costs no extra commands.
    const now = performance.now();
    const due = deps.filter((d) => now - (this.touched.get(d) ?? Number.NEGATIVE_INFINITY) > this.recordTtlMs / 4);
    if (due.length === 0) return;
    if (this.touched.size > 100_000) this.touched.clear(); // bounded: forgetting only touches again
    for (const d of due) this.touched.set(d, now);
    void this.ctx.background.track(this.ctx.guard.run('touch', due[0], () => touch(due, this.recordTtlMs), undefined));
  }

  /** Creates the missing records (add), then reads what is there: ours, or a concurrent writer's. */
  private async createMissing(
    deps: readonly string[],
    tokens: ReadonlyArray<string | undefined>,
  ): Promise<string[] | undefined> {
    const missing: number[] = [];
    for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) missing.push(i);
    if (missing.length === 0) return tokens as string[];
    const { guard, store } = this.ctx;
    const keys = missing.map((i) => deps[i]);
    // Adds and the read in one round trip where the store sends them in order on one connection
    // (the read then sees our record or a concurrent writer's). A store that sends an add later
    // (memcached resolves its key generation first) lets the read overtake it: read again.
    const added = keys.map((d) =>
      guard.run('add', d, () => store.add(d, encode(this.ctx.token()), this.recordTtlMs), false),
    );
    let [again] = await Promise.all([this.read(keys), ...added]);
    if (again !== undefined && again.some((t) => t === undefined)) again = await this.read(keys);
    if (again === undefined || again.some((t) => t === undefined)) return undefined;
    const out = tokens.slice() as string[];
    missing.forEach((index, j) => (out[index] = again[j] as string));
    return out;
  }

  private sendReads(batch: TokenRead[]): void {
    const unique = new Map<string, number>();
    for (const read of batch) for (const k of read.keys) if (!unique.has(k)) unique.set(k, unique.size);
    const keys = [...unique.keys()];
    this.ctx.guard
      .run('getMany', keys[0], () => this.ctx.store.getMany(keys), undefined)
      .then(
        (values) => {
          for (const read of batch)
            read.resolve(values === undefined ? undefined : read.keys.map((k) => decode(values[unique.get(k)!])));
        },
        () => {
          for (const read of batch) read.resolve(undefined);
        },
      );
  }
}
