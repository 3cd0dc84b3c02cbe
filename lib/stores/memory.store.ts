import { InvalidOptionError } from '../errors';
import { flatString } from '../util/flat-string';
import { estimateSize } from '../util/size';
import type { LocalCacheStore } from '../types/store';

export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /** Most bytes kept (bytes stored, or an estimate for objects). Default 64 MiB. */
  maxBytes?: number;
}

/** Numbers per row, in one Float64Array: store expiry, size, recency, then the engine's three. */
const STRIDE = 6;
const EXPIRES = 0;
const SIZE = 1;
const SEQ = 2;
const AT = 3;
const FRESH = 4;
const STALE = 5;
/** What a row of the engine's costs beside its value, counted toward maxBytes (map entry, columns). */
const ROW_BYTES = 128;

/**
 * In-process store bounded by entries and bytes, evicting least recently used first. The Map's
 * insertion order is the recency list; a hit moves an entry to the young end only when it has
 * drifted into the older half, so hot keys cost a lookup, not a delete + re-insert, per hit.
 *
 * The engine keeps entries here as objects (no serialization): a hit returns the cached instance
 * itself, like any in-process memoizer. The byte API (`get/set`) stores Uint8Arrays.
 *
 * Entries take no object of their own: the Map gives each key a row number, and a row is two
 * slots of one array (value, meta) and six numbers of one Float64Array (outside the JS heap).
 * Rows freed by removals are reused; the columns grow as the store fills, up to maxEntries, and
 * shrink once it is mostly empty.
 */
export class MemoryStore implements LocalCacheStore {
  readonly kind = 'memory';
  readonly local = true as const;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly description: string;
  private readonly rows = new Map<string, number>();
  /** value, meta of each row. */
  private refs: unknown[] = [];
  private nums = new Float64Array(0);
  /** Rows allocated so far (the high-water mark); freed ones wait in `free`. */
  private top = 0;
  private free: number[] = [];
  private bytes = 0;
  private seq = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxEntries = positiveInt(options.maxEntries ?? 10_000, 'maxEntries');
    this.maxBytes = positiveInt(options.maxBytes ?? 64 * 1024 * 1024, 'maxBytes');
    this.description = `in-process, up to ${this.maxEntries} entries / ${Math.round(this.maxBytes / 1024 / 1024)} MiB`;
  }

  get size(): number {
    return this.rows.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  find(key: string, now: number = Date.now()): number {
    const row = this.rows.get(key);
    if (row === undefined) return -1;
    const nums = this.nums;
    const at = row * STRIDE;
    if (nums[at + EXPIRES] <= now) {
      this.drop(key, row);
      this.shrinkIfSparse();
      return -1;
    }
    if (this.seq - nums[at + SEQ] > this.maxEntries >>> 1) {
      this.rows.delete(key);
      this.rows.set(key, row);
      nums[at + SEQ] = ++this.seq;
    }
    return row;
  }

  valueAt(row: number): unknown {
    return this.refs[row * 2];
  }

  metaAt(row: number): object | undefined {
    return this.refs[row * 2 + 1] as object | undefined;
  }

  atOf(row: number): number {
    return this.nums[row * STRIDE + AT];
  }

  freshUntilOf(row: number): number {
    return this.nums[row * STRIDE + FRESH];
  }

  staleUntilOf(row: number): number {
    return this.nums[row * STRIDE + STALE];
  }

  peek(key: string, now: number = Date.now()): unknown {
    const row = this.find(key, now);
    return row < 0 ? undefined : this.refs[row * 2];
  }

  put(key: string, value: unknown, ttlMs: number, now: number = Date.now()): void {
    const size = value instanceof Uint8Array ? value.byteLength + 48 : estimateSize(value);
    this.store(key, value, undefined, size, now + ttlMs);
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
  ): void {
    const row = this.store(flatString(key), value, meta, estimateSize(value) + ROW_BYTES + key.length, now + ttlMs);
    if (row < 0) return;
    const nums = this.nums;
    const base = row * STRIDE;
    nums[base + AT] = at;
    nums[base + FRESH] = freshUntil;
    nums[base + STALE] = staleUntil;
  }

  remove(key: string): boolean {
    const row = this.rows.get(key);
    if (row === undefined) return false;
    this.drop(key, row);
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
    for (const [key, row] of this.rows) if (key.startsWith(prefix)) this.drop(key, row);
    this.shrinkIfSparse();
  }

  /** Drops every entry (a tiered store's L1 after its bus may have missed messages). */
  clearAll(): void {
    this.rows.clear();
    this.refs = [];
    this.nums = new Float64Array(0);
    this.top = 0;
    this.free = [];
    this.bytes = 0;
  }

  async disconnect(): Promise<void> {
    this.clearAll();
  }

  /** Writes a row for `key` (replacing its entry, if any); -1 when larger than the whole store. */
  private store(key: string, value: unknown, meta: object | undefined, size: number, expiresAt: number): number {
    const previous = this.rows.get(key);
    if (previous !== undefined) this.drop(key, previous);
    if (size > this.maxBytes) return -1; // larger than the whole store: not cacheable here
    const row = this.allocate();
    const refs = this.refs;
    if (row * 2 === refs.length) refs.push(value, meta);
    else {
      refs[row * 2] = value;
      refs[row * 2 + 1] = meta;
    }
    const base = row * STRIDE;
    this.nums[base + EXPIRES] = expiresAt;
    this.nums[base + SIZE] = size;
    this.nums[base + SEQ] = ++this.seq;
    this.rows.set(key, row);
    this.bytes += size;
    // The new row is the youngest and fits: eviction stops before it.
    if (this.rows.size > this.maxEntries || this.bytes > this.maxBytes) this.evict();
    return row;
  }

  /** Bytes stored by the byte API (never an engine entry's value). */
  private bytesAt(key: string): Uint8Array | undefined {
    const row = this.find(key);
    if (row < 0 || this.refs[row * 2 + 1] !== undefined) return undefined;
    const value = this.refs[row * 2];
    return value instanceof Uint8Array ? value : undefined;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const row = this.top++;
    if (row * STRIDE === this.nums.length) {
      // Grows by half (as arrays do), never past the most rows the store can hold at once.
      const rows = Math.min(this.maxEntries + 1, row + (row >>> 1) + 16);
      const nums = new Float64Array(rows * STRIDE);
      nums.set(this.nums);
      this.nums = nums;
    }
    return row;
  }

  private drop(key: string, row: number): void {
    this.rows.delete(key);
    this.bytes -= this.nums[row * STRIDE + SIZE];
    this.refs[row * 2] = undefined;
    this.refs[row * 2 + 1] = undefined;
    this.free.push(row);
  }

  /**
   * Renumbers the rows into new columns once fewer than a quarter of those allocated are in use,
   * so a store that was emptied does not keep its columns at their largest (never while the Map
   * is being iterated).
   */
  private shrinkIfSparse(): void {
    if (this.top <= 64 || this.rows.size >= this.top >>> 2) return;
    const live = this.rows.size;
    const nums = new Float64Array((live + (live >>> 1) + 16) * STRIDE);
    const refs: unknown[] = [];
    let next = 0;
    for (const [key, row] of this.rows) {
      for (let i = 0; i < STRIDE; i++) nums[next * STRIDE + i] = this.nums[row * STRIDE + i];
      refs.push(this.refs[row * 2], this.refs[row * 2 + 1]);
      this.rows.set(key, next++); // an existing key: its place in the recency order stays
    }
    this.nums = nums;
    this.refs = refs;
    this.top = next;
    this.free = [];
  }

  private evict(): void {
    for (const [key, row] of this.rows) {
      if (this.rows.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
      this.drop(key, row);
    }
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
