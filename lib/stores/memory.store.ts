import { InvalidOptionError } from '../errors';
import { estimateSize } from '../util/size';
import type { LocalCacheStore } from '../types/store';

export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /** Most bytes kept (bytes stored, or an estimate for objects). Default 64 MiB. */
  maxBytes?: number;
}

/** The clock's value at process start: slots keep expiry relative to it (a small integer, no heap number). */
const BASE = Math.floor(performance.timeOrigin);

interface Slot {
  value: unknown;
  /** Whole milliseconds since BASE, rounded up. */
  expiresAt: number;
  size: number;
  /** Insertion/promotion sequence number: how far from the young end of the Map the entry is. */
  seq: number;
}

/**
 * In-process store bounded by entries and bytes, evicting least recently used first. The Map's
 * insertion order is the recency list; a hit moves an entry to the young end only when it has
 * drifted into the older half, so hot keys cost a lookup, not a delete + re-insert, per hit.
 *
 * The engine keeps entries here as objects (no serialization): a hit returns the cached instance
 * itself, like any in-process memoizer. The byte API (`get/set`) stores Uint8Arrays.
 */
export class MemoryStore implements LocalCacheStore {
  readonly kind = 'memory';
  readonly local = true as const;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly description: string;
  private readonly slots = new Map<string, Slot>();
  private bytes = 0;
  private seq = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxEntries = positiveInt(options.maxEntries ?? 10_000, 'maxEntries');
    this.maxBytes = positiveInt(options.maxBytes ?? 64 * 1024 * 1024, 'maxBytes');
    this.description = `in-process, up to ${this.maxEntries} entries / ${Math.round(this.maxBytes / 1024 / 1024)} MiB`;
  }

  get size(): number {
    return this.slots.size;
  }

  get byteSize(): number {
    return this.bytes;
  }

  peek(key: string, now: number = Date.now()): unknown {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt + BASE <= now) {
      this.drop(key, slot);
      return undefined;
    }
    if (this.seq - slot.seq > this.maxEntries >>> 1) {
      this.slots.delete(key);
      this.slots.set(key, slot);
      slot.seq = ++this.seq;
    }
    return slot.value;
  }

  put(key: string, value: unknown, ttlMs: number, now: number = Date.now()): void {
    const size = value instanceof Uint8Array ? value.byteLength + 48 : estimateSize(value);
    const previous = this.slots.get(key);
    if (previous !== undefined) this.drop(key, previous);
    if (size > this.maxBytes) return; // larger than the whole store: not cacheable here
    this.slots.set(key, { value, expiresAt: Math.ceil(now + ttlMs - BASE), size, seq: ++this.seq });
    this.bytes += size;
    if (this.slots.size > this.maxEntries || this.bytes > this.maxBytes) this.evict();
  }

  remove(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.drop(key, slot);
    return true;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = this.peek(key);
    return value instanceof Uint8Array ? value : undefined;
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return keys.map((key) => {
      const value = this.peek(key);
      return value instanceof Uint8Array ? value : undefined;
    });
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.put(key, value, ttlMs);
  }

  async add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    if (this.peek(key) !== undefined) return false;
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
    for (const [key, slot] of this.slots) if (key.startsWith(prefix)) this.drop(key, slot);
  }

  /** Drops every entry (a tiered store's L1 after its bus may have missed messages). */
  clearAll(): void {
    this.slots.clear();
    this.bytes = 0;
  }

  async disconnect(): Promise<void> {
    this.clearAll();
  }

  private drop(key: string, slot: Slot): void {
    this.slots.delete(key);
    this.bytes -= slot.size;
  }

  private evict(): void {
    for (const [key, slot] of this.slots) {
      if (this.slots.size <= this.maxEntries && this.bytes <= this.maxBytes) return;
      this.drop(key, slot);
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
