import { Logger } from '@nestjs/common';
import { parseDuration, TIMER, type Duration } from '../../util/duration';
import { InvalidOptionError } from '../../errors';
import type { CacheStore, SharedEntryOptions } from '../../types/store';
import { checkEntryOptions } from '../../util/entry-options';
import { casOperations } from './memjs-cas';
import { corkSockets, fetcherFor, NO_SOCKETS, type Fetch } from './memjs-requests';
import { closeMemjs } from './memjs-sockets';
import { createMemjs } from './memjs-client';
import { asBuffer } from '../../util/bytes';
import { expires, generationKey, newGeneration, physicalKey, rootOf } from './memcached-keys';
import { ValueLimit } from './value-limit';
import { serverList } from './server-list';

/** The slice of a memjs client the store uses (declared here so memjs types are not required). */
export interface MemcachedClientLike {
  /** memjs also takes a callback (`get(key, cb)`); the store uses that form when offered. */
  get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
  set(key: string, value: Buffer, options: { expires?: number }): Promise<boolean | null>;
  /** memjs has it; a client without it leaves records to their ttl. */
  touch?(key: string, expires: number): Promise<boolean | null>;
  add(key: string, value: Buffer, options: { expires?: number }): Promise<boolean | null>;
  delete(key: string): Promise<boolean | null>;
  quit(): void;
  close(): void;
}

interface MemcachedCommon extends SharedEntryOptions {
  /** Bound on every operation. Default 500 ms. */
  timeout?: Duration;
  /** Largest value stored; larger ones are skipped (warned once). Default 1 MiB - 1 KiB (memcached's -I 1m). */
  maxValueBytes?: number;
  /** How often other instances' clear() is picked up locally. Default 1 s. */
  generationRefresh?: Duration;
}

export type MemcachedStoreOptions =
  | ({ servers: string } & MemcachedCommon & { memjsOptions?: Record<string, unknown> })
  | ({ client: MemcachedClientLike } & MemcachedCommon);

interface Generation {
  value: string;
  fetchedAt: number;
  refreshing?: Promise<void>;
}

/**
 * memcached on memjs, one or many servers. Keys are made safe (≤ 250 bytes, no whitespace or
 * control bytes: hashed otherwise); TTLs are whole seconds rounded up (the envelope decides
 * millisecond freshness). memcached cannot scan, so clear(prefix) bumps a generation counter
 * that is part of every physical key under that prefix (never flush_all).
 */
export class MemcachedStore implements CacheStore {
  readonly kind = 'memcached';
  readonly client: MemcachedClientLike;
  readonly description: string;
  readonly boundsOwnOperations: boolean;
  readonly entryOptions: SharedEntryOptions;
  private readonly owned: boolean;
  private closing: Promise<void> | undefined; // its own connections closing
  private readonly limit: ValueLimit;
  private readonly refreshMs: number;
  private readonly generations = new Map<string, Generation>();
  private readonly logger = new Logger('CacheMemoize');
  private warnedCasDisabled = false;
  private closed = false;
  /** The cheapest GET the client offers (see fetcherFor). */
  private readonly fetch: Fetch;
  /** Extends lifetimes, when the client can (memjs' touch). */
  readonly touch?: (keys: readonly string[], ttlMs: number) => Promise<void>;
  /** With memjs (CAS through its binary protocol); absent for other clients. */
  readonly compareAndSet?: (key: string, expected: Uint8Array, value: Uint8Array, ttlMs: number) => Promise<boolean>;
  readonly compareAndDelete?: (key: string, value: Uint8Array) => Promise<boolean>;

  constructor(options: MemcachedStoreOptions) {
    const timeoutMs = parseDuration(options.timeout ?? 500, 'memcachedStore(): timeout', TIMER);
    this.entryOptions = checkEntryOptions(options, 'memcachedStore()');
    this.limit = new ValueLimit(options.maxValueBytes ?? 1024 * 1024 - 1024, (m) => this.logger.warn(m));
    this.refreshMs = parseDuration(options.generationRefresh ?? 1_000, 'memcachedStore(): generationRefresh', TIMER);
    if ('client' in options) {
      this.client = options.client;
      this.owned = false;
      this.boundsOwnOperations = false;
      this.description = 'a client passed in';
      if ((options.client as { options?: { failover?: unknown } }).options?.failover === true) {
        this.logger.warn(
          'memcachedStore({ client }): the client fails over to other servers. When a server comes back, version records it held ' +
            'from before an invalidation become current again and old entries can be served. Create the client with failover: false.',
        );
      }
    } else {
      const servers = typeof options.servers === 'string' ? serverList(options.servers) : '';
      if (servers === '')
        throw new InvalidOptionError(
          `memcachedStore(): servers must be 'host:port[,host:port...]', got ${JSON.stringify(options.servers)}.`,
        );
      this.client = createMemjs(servers, timeoutMs, options.memjsOptions);
      this.owned = true;
      this.boundsOwnOperations = true; // per request (createMemjs)
      this.description = options.servers.replace(/[^,@]*@/g, '***@');
    }
    this.fetch = fetcherFor(this.client);
    const cas = casOperations(this.client, () => this.warnCasDisabled());
    if (cas !== undefined) {
      // No maxValueBytes check: the value replaces bytes of about its size that the server took.
      this.compareAndSet = async (key, expected, value, ttlMs) =>
        cas.compareAndSet(await this.physical(key), asBuffer(expected), asBuffer(value), expires(ttlMs));
      this.compareAndDelete = async (key, value) => cas.compareAndDelete(await this.physical(key), asBuffer(value));
    }
    const touch = this.client.touch?.bind(this.client);
    if (touch !== undefined) {
      this.touch = async (keys, ttlMs) => {
        await Promise.all(keys.map(async (k) => touch(await this.physical(k), expires(ttlMs))));
      };
    }
  }

  /** Resolves true once a server answers, false after `timeoutMs`: the startup line says which. */
  async ready(timeoutMs: number): Promise<boolean> {
    await this.closing; // its last app closing: requests from now on open a new connection
    this.closed = false;
    let timer: NodeJS.Timeout | undefined;
    const answered = this.client.get('~ready').then(
      () => true,
      () => false,
    );
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref?.();
    });
    const ok = await Promise.race([answered, late]);
    clearTimeout(timer);
    return ok;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const physical = this.physicalNow(key) ?? (await this.physical(key));
    return new Promise((resolve, reject) =>
      this.fetch(physical, (error, value) => (error ? reject(error) : resolve(value ?? undefined))),
    );
  }

  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    const physical = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const known = this.physicalNow(keys[i]);
      if (known === undefined) return Promise.all(keys.map((k) => this.get(k))); // generation to fetch first
      physical[i] = known;
    }
    const fetch = this.fetch;
    // memjs has no multi-get; its requests share one connection per server and are pipelined.
    return new Promise((resolve, reject) => {
      const values = new Array<Uint8Array | undefined>(keys.length);
      let left = keys.length;
      let failed = false;
      if (left === 0) return resolve(values);
      const corked = physical.length > 1 ? corkSockets(this.client) : NO_SOCKETS;
      try {
        for (let i = 0; i < physical.length; i++) {
          fetch(physical[i], (error, value) => {
            if (failed) return;
            if (error) {
              failed = true;
              return reject(error);
            }
            values[i] = value ?? undefined;
            if (--left === 0) resolve(values);
          });
        }
      } finally {
        for (const socket of corked) socket.uncork();
      }
    });
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    const physical = await this.physical(key);
    // Not taken (too large): the value it was to replace must not outlive it (as on the memory store).
    if (this.limit.exceeds(key, value) || !(await this.taken(physical, key, value, ttlMs)))
      await this.client.delete(physical);
  }

  private async taken(physical: string, key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    try {
      if (await this.client.set(physical, asBuffer(value), { expires: expires(ttlMs) })) return true;
    } catch (error) {
      if (this.limit.refused(error, key, value)) return false;
      throw error;
    }
    throw new Error(`memcached refused SET of ${key}`);
  }

  async add(key: string, value: Uint8Array, ttlMs: number): Promise<boolean> {
    if (this.limit.exceeds(key, value)) return false;
    return (await this.client.add(await this.physical(key), asBuffer(value), { expires: expires(ttlMs) })) === true;
  }

  async delete(key: string): Promise<boolean> {
    return (await this.client.delete(await this.physical(key))) === true;
  }

  async deleteMany(keys: readonly string[]): Promise<number> {
    const results = await Promise.all(keys.map((k) => this.delete(k)));
    return results.filter(Boolean).length;
  }

  /** Bumps the generation of `prefix` ('app:'): every key under it becomes unreachable at once. */
  async clear(prefix: string): Promise<void> {
    const root = rootOf(prefix);
    if (root !== prefix) {
      throw new InvalidOptionError(
        `memcachedStore: clear() takes a whole prefix ending at its first ':' (e.g. 'app:'), got ${JSON.stringify(prefix)}. ` +
          `Use InvalidationService.invalidateNamespace() for parts of an app.`,
      );
    }
    const value = newGeneration();
    this.refuseIfClosed(`clear(${prefix})`);
    const ok = await this.client.set(generationKey(root), Buffer.from(value), { expires: 0 });
    if (!ok) throw new Error(`memcached refused SET of the generation of ${prefix}`);
    this.generations.set(root, { value, fetchedAt: Date.now() });
  }

  disconnect(): Promise<void> {
    // memjs connects again for any request: one after close (a call still computing at shutdown, a
    // timer of the app) would leave a socket open and the process alive. Refused until an app reopens it.
    this.closed = this.owned;
    return (this.closing ??= this.close().finally(() => (this.closing = undefined)));
  }

  private async close(): Promise<void> {
    if (this.owned) await closeMemjs(this.client, 1_000);
  }

  /** Closed with its last app: memjs would connect again for the request (see disconnect). */
  private refuseIfClosed(what: string): void {
    if (this.closed) throw new Error(`memcached store closed with its last app: ${what} not sent`);
  }

  /** The physical key without waiting, when the generation of its prefix is known and fresh. */
  private physicalNow(key: string): string | undefined {
    if (this.closed) return undefined; // physical() says why
    const root = rootOf(key);
    const known = this.generations.get(root);
    if (known === undefined || Date.now() - known.fetchedAt > this.refreshMs) return undefined;
    return physicalKey(root, known.value, key);
  }

  /** `root` + generation + rest, hashed when too long or holding unsafe bytes. */
  private async physical(key: string): Promise<string> {
    this.refuseIfClosed(key);
    const root = rootOf(key);
    return physicalKey(root, await this.generation(root), key);
  }

  private async generation(root: string): Promise<string> {
    const known = this.generations.get(root);
    if (known !== undefined) {
      if (Date.now() - known.fetchedAt > this.refreshMs && known.refreshing === undefined) {
        known.refreshing = this.fetchGeneration(root)
          .then((value) => this.generations.set(root, { value, fetchedAt: Date.now() }))
          .then(
            () => undefined,
            () => void (known.refreshing = undefined),
          );
      }
      return known.value;
    }
    const value = await this.fetchGeneration(root);
    this.generations.set(root, { value, fetchedAt: Date.now() });
    return value;
  }

  private async fetchGeneration(root: string): Promise<string> {
    const key = generationKey(root);
    const { value } = await this.client.get(key);
    if (value) return value.toString('latin1');
    await this.client.add(key, Buffer.from(newGeneration()), { expires: 0 });
    const again = await this.client.get(key);
    if (!again.value) throw new Error(`memcached lost the generation of ${JSON.stringify(root)}`);
    return again.value.toString('latin1');
  }

  private warnCasDisabled(): void {
    if (this.warnedCasDisabled) return;
    this.warnedCasDisabled = true;
    this.logger.warn(
      'memcached: the server answers without CAS (started with -C, or cas_disabled): compare-and-set never applies, so ' +
        'refresh(), set() and @CachePut invalidate the key instead of storing the new value, expireIn returns false, and a ' +
        'lock release (check-then-delete) may free a lock retaken meanwhile. Run memcached with CAS (the default).',
    );
  }
}

export function memcachedStore(options: MemcachedStoreOptions): MemcachedStore {
  return new MemcachedStore(options);
}
