import { DirectCache } from '../method/direct-cache';
import { Inject, Injectable, Logger, Optional, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { CacheEventStream } from '../engine/event-stream';
import { describeDeps } from '../engine/failed-invalidations';
import { Memoizer } from '../engine/memoizer';
import { StatsCollector } from '../engine/stats';
import { InvalidOptionError, UnknownStoreError } from '../errors';
import { MethodRegistry } from '../method/method-registry';
import type { CacheEvent } from '../types/events';
import type { CacheMemoizeModuleOptions } from '../types/options';
import type { CacheStats } from '../types/stats';
import { EventLogger } from './event-logger';
import { CACHE_MEMOIZE_MODULE_OPTIONS } from './module-definition';
import { resolveModuleOptions, type ResolvedModuleOptions } from './module-options';
import { claimApp } from './single-engine';
import { releaseStore, useStore } from './store-users';
import { openTelemetry, type Telemetry } from './telemetry';

/**
 * The module's core, injectable: one engine (Memoizer) per store, the registry of memoized
 * methods, the event stream and the counters. `engine.stats()`, `engine.events.subscribe(...)`.
 * It connects the stores at bootstrap and closes them at shutdown, after the writes under way.
 */
@Injectable()
export class CacheMemoizeEngine implements OnModuleInit, OnApplicationShutdown {
  readonly prefix: string;
  readonly enabled: boolean;
  /** The event stream: `engine.events.subscribe((event) => ...)`. */
  readonly events = new CacheEventStream();
  readonly registry: MethodRegistry;
  readonly options: ResolvedModuleOptions;
  private readonly logger = new Logger('CacheMemoize');
  private readonly eventLogger = new EventLogger(this.logger);
  private readonly memoizers = new Map<string, Memoizer>();
  private readonly directs = new Map<string | undefined, DirectCache>();
  private readonly collector = new StatsCollector();
  private readonly telemetry: Telemetry | undefined;
  /** The prefix was not set: two apps on one server would share entries. */
  private readonly defaultPrefix: boolean;

  constructor(
    @Optional() @Inject(CACHE_MEMOIZE_MODULE_OPTIONS) raw: CacheMemoizeModuleOptions | undefined,
    modules: ModulesContainer,
  ) {
    // `imports: [CacheMemoizeModule]`: Nest's own message named an internal token (found by a new user).
    if (raw === undefined)
      throw new InvalidOptionError(
        'CacheMemoizeModule is imported without options: import CacheMemoizeModule.forRoot({ ... }) (or ' +
          'forRootAsync()) once in your root module, not the bare CacheMemoizeModule class.',
      );
    claimApp(modules);
    this.defaultPrefix = raw.prefix === undefined;
    const options = (this.options = resolveModuleOptions(raw));
    this.prefix = options.prefix;
    this.enabled = options.enabled;
    if (raw.onEvent !== undefined) this.events.subscribe(raw.onEvent);
    this.telemetry = options.openTelemetry ? openTelemetry(() => this.stats(), options.prefix) : undefined;
    for (const [name, store] of options.stores) {
      this.memoizers.set(
        name,
        new Memoizer(store, {
          name,
          prefix: options.prefix,
          serializer: options.serializer,
          secret: raw.secret,
          compress: raw.compress,
          operationTimeoutMs: options.operationTimeoutMs,
          stats: options.stats ? this.collector : undefined,
          hotEvents: () => this.events.active,
          traceCompute: this.telemetry?.traceCompute,
          listener: (event) => this.onEvent(event),
        }),
      );
    }
    this.registry = new MethodRegistry(
      {
        prefix: options.prefix,
        ttlMs: options.ttlMs,
        hooks: raw.hooks,
        stats: options.stats ? this.collector : undefined,
        regions: options.regions,
        memoizer: (name, where) => this.memoizer(name, where),
        warn: (message) => this.logger.warn(message),
        error: (message) => this.logger.error(message),
      },
      {
        enabled: options.enabled,
        privateHeaders: options.privateHeaders,
        varyByHost: options.varyByHost,
        exposeKeyHeader: options.exposeKeyHeader,
      },
    );
    // From here the stores are this app's too: another app closing leaves them open. (An app whose
    // init then fails cannot be closed, and keeps them open: disconnect such stores yourself.)
    for (const m of this.memoizers.values()) useStore(m.store, m);
  }

  get defaultStore(): string | undefined {
    return this.options.defaultStore;
  }

  /** The engine of a store; undefined `name`: the default store. */
  memoizer(name?: string, where = 'CacheMemoize'): Memoizer {
    const storeName = name ?? this.options.defaultStore;
    if (storeName === undefined) {
      throw new UnknownStoreError(
        `${where}: no store is named and there is no default among ${this.storeNames().join(', ')}. ` +
          `Name one with the store option, or set defaultStore in CacheMemoizeModule.forRoot().`,
      );
    }
    const memoizer = this.memoizers.get(storeName);
    if (memoizer === undefined) {
      throw new UnknownStoreError(
        `${where}: store '${storeName}' is not configured. Known stores: ${this.storeNames().join(', ')}. ` +
          `Add it to CacheMemoizeModule.forRoot({ stores }) or fix the store option.`,
      );
    }
    return memoizer;
  }

  /** The direct API's core for a region (undefined: the module's defaults), made once per region. */
  direct(region?: string): DirectCache {
    let found = this.directs.get(region);
    if (found === undefined) {
      const { defaults } = this.registry;
      found = new DirectCache({ ...defaults, all: () => this.memoizersFor() }, region);
      this.directs.set(region, found);
    }
    return found;
  }

  storeNames(): string[] {
    return [...this.memoizers.keys()];
  }

  /** Every store, or the one named (InvalidationService's `{ store }`). */
  memoizersFor(store?: string): Memoizer[] {
    return store === undefined ? [...this.memoizers.values()] : [this.memoizer(store, 'InvalidationService')];
  }

  /** Hits, misses, stale serves, errors and uncacheable results, per namespace (method) and per store, since boot. */
  stats(): CacheStats {
    return this.collector.snapshot();
  }

  /**
   * Waits (bounded) for shared stores to connect and says what each store is, so a
   * misconfigured Redis is visible at boot. A store that is down does not stop the app.
   */
  async onModuleInit(): Promise<void> {
    const shared = [...this.memoizers.values()]
      .filter((m) => m.store.kind !== 'memory')
      .map((m) => `'${m.name}' (${m.store.kind})`);
    if (this.defaultPrefix && shared.length > 0) {
      this.logger.warn(
        `store ${shared.join(', ')} is shared, and the key prefix is the default '${this.prefix}': another app on the same server ` +
          `with the default would read this app's entries, and clear() in one would empty both. Set a prefix of your own: ` +
          `CacheMemoizeModule.forRoot({ prefix: 'my-app', ... }).`,
      );
    }
    await Promise.all(
      [...this.memoizers.values()].map(async (m) => {
        const what = `${m.store.kind}${m.store.description ? ` ${m.store.description}` : ''}`;
        if (m.store.ready === undefined) {
          this.logger.log(`store '${m.name}': ${what}`);
          return;
        }
        const ok = await m.store.ready(this.options.connectTimeoutMs);
        if (ok) this.logger.log(`store '${m.name}': ${what}, connected`);
        else
          this.logger.warn(
            `store '${m.name}': ${what} is not reachable yet${m.store.connectionProblem ? ` (${m.store.connectionProblem})` : ''}; ` +
              'memoized calls run uncached until it is.',
          );
      }),
    );
  }

  /** Lets writes and refreshes under way land (bounded by the operation timeout), then closes the stores it was given. */
  /** Once per app: Nest runs the hook at each app.close(), which waited and warned again (review). */
  onApplicationShutdown(): Promise<void> {
    return (this.shutdown ??= this.shutDown());
  }
  private shutdown: Promise<void> | undefined;

  private async shutDown(): Promise<void> {
    this.telemetry?.close();
    await Promise.all(
      [...this.memoizers.values()].map((m) => m.close(Math.max(this.options.operationTimeoutMs, 1_000))),
    );
    this.eventLogger.close();
    // A store another app (or another name here) still uses stays open: the last one closes it.
    await Promise.all(
      [...this.memoizers.values()].map((m) =>
        releaseStore(m.store, m).catch((error: unknown) =>
          this.logger.warn(`closing store '${m.name}' failed: ${String(error)}`),
        ),
      ),
    );
    // After the stores closed: an invalidation still under way then fails too. The call that asked
    // for it was told; this line is for whoever reads why another instance served old data.
    await Promise.all(
      [...this.memoizers.values()].map(async (m) => {
        const unwritten = await m.unwritten(250);
        if (unwritten.length > 0)
          this.logger.warn(
            `store '${m.name}': shutting down with invalidations never written (${describeDeps(unwritten)}); other ` +
              `instances sharing the store may serve the affected entries until they expire or are invalidated again.`,
          );
      }),
    );
  }

  private onEvent(event: CacheEvent): void {
    this.events.publish(event);
    if (event.type === 'error' && event.owner !== undefined) {
      this.registry.byOwner(event.owner)?.fireHook('onError', { key: event.key, args: undefined, error: event.error });
    }
    this.eventLogger.handle(event, (store) => this.memoizers.get(store)?.breaker.state === 'closed');
  }
}
