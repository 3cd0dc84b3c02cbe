import { InvalidOptionError } from '../errors';
import { estimateSize } from '../core/size';
import type { LocalCacheStore } from './cache-store.interface';

export interface MemoryStoreOptions {
  /** Most entries kept; the least recently used go first. Default 10,000. */
  maxEntries?: number;
  /** Most bytes kept (bytes stored, or an estimate for objects). Default 64 MiB. */
  maxBytes?: number;
}

interface Slot {
  value: unknown;
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
 * The memoizer keeps envelopes here as objects (no serialization): a hit returns the cached
 * instance itself, like any in-process memoizer. The byte API (`get/set`) stores Uint8Arrays.
 */
export class MemoryStore implements LocalCacheStore {
  readonly kind = 'memory';
  readonly local = true as const;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly description: string;
  private readonly slots = new Map<string, Slot>();
  private readonly tagTimes = new Map<string, { time: number; expiresAt: number }>();
  private bytes = 0;
  private seq = 0;
  private _lastTagTime = 0;

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

  get lastTagTime(): number {
    return this._lastTagTime;
  }

  peek(key: string, now: number = Date.now()): unknown {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= now) {
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
    this.slots.set(key, { value, expiresAt: now + ttlMs, size, seq: ++this.seq });
    this.bytes += size;
    if (this.slots.size > this.maxEntries || this.bytes > this.maxBytes) this.evict();
  }

  remove(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.drop(key, slot);
    return true;
  }

  readTagTime(tagKey: string): number | undefined {
    const tag = this.tagTimes.get(tagKey);
    if (tag === undefined) return undefined;
    if (tag.expiresAt <= Date.now()) {
      this.tagTimes.delete(tagKey);
      return undefined;
    }
    return tag.time;
  }

  writeTagTime(tagKey: string, time: number, ttlMs: number): void {
    const current = this.tagTimes.get(tagKey);
    // Timestamps only move forward: a late writer with an older clock cannot un-invalidate.
    const next = Math.max(time, current?.time ?? 0);
    this.tagTimes.delete(tagKey);
    this.tagTimes.set(tagKey, { time: next, expiresAt: Date.now() + ttlMs });
    if (next > this._lastTagTime) this._lastTagTime = next;
    this.pruneTags();
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
    for (const key of this.tagTimes.keys()) if (key.startsWith(prefix)) this.tagTimes.delete(key);
  }

  /** Drops every entry and tag time (the tiered store's L1 after a bus outage). */
  clearAll(): void {
    this.slots.clear();
    this.bytes = 0;
    // Tag times stay: they only ever make entries stale.
  }

  async disconnect(): Promise<void> {
    this.slots.clear();
    this.tagTimes.clear();
    this.bytes = 0;
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

  private pruneTags(): void {
    // Tag timestamps outlive entries by design; only forget ones past their own lifetime, and
    // bound the map so a flood of distinct tags cannot grow memory without limit.
    if (this.tagTimes.size <= this.maxEntries) return;
    const now = Date.now();
    for (const [key, tag] of this.tagTimes) {
      if (tag.expiresAt <= now) this.tagTimes.delete(key);
    }
    // Still too many: forgetting the oldest timestamp is safe only if we also forget the entries
    // it could invalidate, so drop all entries created before it (conservative, never stale).
    while (this.tagTimes.size > this.maxEntries * 2) {
      const first = this.tagTimes.keys().next().value as string;
      this.tagTimes.delete(first);
      this.slots.clear();
      this.bytes = 0;
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
