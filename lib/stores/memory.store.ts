import { InvalidOptionError } from '../errors';
import { flatString } from '../util/flat-string';
import { estimateSize } from '../util/size';
import type { LocalCacheStore } from '../types/store';
import type { KeySpace } from './key-spaces';
import { AT, EXPIRES, FRESH, LINKS, MemoryRows, NEXT, SEQ, SIG, SIZE, SPACE, STALE, STRIDE, SUM } from './memory-rows';

export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /** Most bytes kept (bytes stored, or an estimate for objects). Default 64 MiB. */
  maxBytes?: number;
}

/** What a row of the engine's costs beside its value, counted toward maxBytes (map entry, columns). */
const ROW_BYTES = 128;

/**
 * In-process store bounded by entries and bytes, evicting least recently used first. Recency is a
 * list threaded through the rows (oldest first); a hit moves an entry to the young end only when
 * it has drifted into the older half, so hot keys cost a lookup, not a relink, per hit.
 *
 * The engine keeps entries here as objects (no serialization): a hit returns the cached instance
 * itself, like any in-process memoizer. The byte API (`get/set`) stores Uint8Arrays.
 *
 * Entries take no object of their own: the index (one map per key space, see KeySpaces) gives each
 * key a row number, and a row is three slots of one array (value, meta, the key's rest), five
 * numbers of one Float64Array and six of one Int32Array (outside the JS heap). Rows freed by
 * removals are reused; the columns grow as the store fills, up to maxEntries, and shrink once it
 * is mostly empty.
 */
export class MemoryStore extends MemoryRows implements LocalCacheStore {
  readonly kind = 'memory';
  readonly local = true as const;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly description: string;
  private bytes = 0;
  private seq = 0;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.maxEntries = positiveInt(options.maxEntries ?? 10_000, 'maxEntries');
    this.maxBytes = positiveInt(options.maxBytes ?? 64 * 1024 * 1024, 'maxBytes');
    this.description = `in-process, up to ${this.maxEntries} entries / ${Math.round(this.maxBytes / 1024 / 1024)} MiB`;
    this.spaces.onMove = (row, space, rest) => {
      this.refs[row * 3 + 2] = rest;
      this.links[row * LINKS + SPACE] = space.id;
    };
  }

  get size(): number {
    return this.count;
  }

  get byteSize(): number {
    return this.bytes;
  }

  find(key: string, now: number = Date.now()): number {
    const space = this.spaces.of(key);
    return this.findRow(space, space.restOf(key), now);
  }

  findIn(space: string, rest: string, now: number = Date.now()): number {
    const spaces = this.spaces;
    const named = spaces.named(space); // registering it may reveal nesting
    // Nested spaces: the key lives in the longest one that starts it, found from the whole key.
    if (spaces.nested) return this.find(space + rest, now);
    return this.findRow(named, rest, now);
  }

  peek(key: string, now: number = Date.now()): unknown {
    const row = this.find(key, now);
    return row < 0 ? undefined : this.refs[row * 3];
  }

  put(key: string, value: unknown, ttlMs: number, now: number = Date.now()): void {
    const size = value instanceof Uint8Array ? value.byteLength + 48 : estimateSize(value, this.maxBytes);
    const space = this.spaces.of(key);
    const rest = space.restOf(key);
    this.store(space, rest, value, undefined, size, now + ttlMs);
  }

  putEntry(
    key: string,
    value: unknown,
    meta: object,
    at: number,
    freshUntil: number,
    staleUntil: number,
    ttlMs: number,
    now: number = Date.now(),
    sum = 0,
    sig = 0,
  ): void {
    const space = this.spaces.of(key);
    const rest = space.restOf(key);
    const size = estimateSize(value, this.maxBytes) + ROW_BYTES + rest.length;
    const row = this.store(space, flatString(rest), value, meta, size, now + ttlMs);
    if (row < 0) return;
    const nums = this.nums;
    const base = row * STRIDE;
    nums[base + AT] = at;
    nums[base + FRESH] = freshUntil;
    nums[base + STALE] = staleUntil;
    nums[base + SUM] = sum;
    this.links[row * LINKS + SIG] = sig;
  }

  remove(key: string): boolean {
    const space = this.spaces.of(key);
    const row = space.rows.get(space.restOf(key));
    if (row === undefined) return false;
    this.drop(row);
    this.shrinkIfSparse();
    return true;
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.bytesAt(key);
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return keys.map((key) => this.bytesAt(key));
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.put(key, value, ttlMs);
  }

  async add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    if (this.find(key) >= 0) return false;
    this.put(key, value, ttlMs);
    return true;
  }

  async delete(key: string): Promise<boolean> {
    return this.remove(key);
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    let n = 0;
    for (const key of keys) if (this.remove(key)) n++;
    return n;
  }

  async clear(prefix: string): Promise<void> {
    for (let row = this.oldest; row >= 0;) {
      const next = this.links[row * LINKS + NEXT]; // read before drop() unlinks the row
      const space = this.spaces.list[this.links[row * LINKS + SPACE]];
      const rest = this.refs[row * 3 + 2] as string;
      const name = space.name;
      const within =
        name.length >= prefix.length
          ? name.startsWith(prefix)
          : prefix.startsWith(name) && rest.startsWith(prefix.slice(name.length));
      if (within) this.drop(row);
      row = next;
    }
    this.shrinkIfSparse();
  }

  /** Drops every entry (a tiered store's L1 after its bus may have missed messages). */
  clearAll(): void {
    this.spaces.clear();
    this.refs = [];
    this.nums = new Float64Array(0);
    this.links = new Int32Array(0);
    this.oldest = this.youngest = -1;
    this.count = 0;
    this.top = 0;
    this.free = [];
    this.bytes = 0;
  }

  async disconnect(): Promise<void> {
    this.clearAll();
  }

  private findRow(space: KeySpace, rest: string, now: number): number {
    const row = space.rows.get(rest);
    if (row === undefined) return -1;
    if (this.nums[row * STRIDE + EXPIRES] <= now) {
      this.drop(row);
      this.shrinkIfSparse();
      return -1;
    }
    // Recency numbers wrap at 2^32; the difference stays right for any row younger than 2^31 writes.
    const links = this.links;
    if (((this.seq - links[row * LINKS + SEQ]) | 0) > this.maxEntries >>> 1) {
      this.unlink(row);
      this.linkYoungest(row);
      links[row * LINKS + SEQ] = this.seq = (this.seq + 1) | 0;
    }
    return row;
  }

  /** Writes a row for the key (replacing its entry, if any); -1 when larger than the whole store. */
  private store(
    space: KeySpace,
    rest: string,
    value: unknown,
    meta: object | undefined,
    estimate: number,
    expiresAt: number,
  ): number {
    const size = Math.ceil(estimate); // kept in a 32-bit column: whole bytes, so the total stays exact
    const previous = space.rows.get(rest);
    if (previous !== undefined) this.drop(previous);
    // Larger than the whole store (or than a row's 32-bit size): not cacheable here.
    if (size > this.maxBytes || size > 0x7fffffff) return -1;
    const row = this.allocate();
    const refs = this.refs; // as long as the columns (allocate() grew both)
    refs[row * 3] = value;
    refs[row * 3 + 1] = meta;
    refs[row * 3 + 2] = rest;
    const base = row * STRIDE;
    this.nums[base + EXPIRES] = expiresAt;
    this.nums[base + SUM] = 0;
    const links = this.links;
    links[row * LINKS + SIG] = 0;
    links[row * LINKS + SIZE] = size;
    links[row * LINKS + SEQ] = this.seq = (this.seq + 1) | 0;
    links[row * LINKS + SPACE] = space.id;
    this.linkYoungest(row);
    space.rows.set(rest, row);
    this.count++;
    this.bytes += size;
    // The new row is the youngest and fits: eviction stops before it.
    if (this.count > this.maxEntries || this.bytes > this.maxBytes) this.evict();
    return row;
  }

  /** Bytes stored by the byte API (never an engine entry's value). */
  private bytesAt(key: string): Uint8Array | undefined {
    const row = this.find(key);
    if (row < 0 || this.refs[row * 3 + 1] !== undefined) return undefined;
    const value = this.refs[row * 3];
    return value instanceof Uint8Array ? value : undefined;
  }

  private drop(row: number): void {
    const space = this.spaces.list[this.links[row * LINKS + SPACE]];
    space.rows.delete(this.refs[row * 3 + 2] as string);
    this.unlink(row);
    this.count--;
    this.bytes -= this.links[row * LINKS + SIZE];
    this.refs[row * 3] = undefined;
    this.refs[row * 3 + 1] = undefined;
    this.refs[row * 3 + 2] = undefined;
    this.free.push(row);
  }

  private evict(): void {
    while (this.oldest >= 0 && (this.count > this.maxEntries || this.bytes > this.maxBytes)) this.drop(this.oldest);
  }
}

export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidOptionError(`memoryStore(): ${name} must be a positive integer, got ${String(value)}.`);
  }
  return value;
}
