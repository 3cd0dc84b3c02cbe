import { defer, from, isObservable, lastValueFrom, mergeMap, toArray, type Observable } from 'rxjs';
import type { CacheMemoizeOptions } from '../cache-memoize.options';
import { encodeArgs, encodeValue } from './key-encoder';
import { composeKey, tagKeysFor } from './keys';
import type { MemoizePolicy, Memoizer } from './memoizer';
import { currentCacheMode } from './cache-context';
import type { CacheHookInfo, CacheHooks } from '../cache-memoize.options';
import type { Counters } from './stats';

/** Policy fields fixed per method (parsed from the decorator at bootstrap). */
export type BasePolicy = Pick<MemoizePolicy, 'graceMs' | 'lock' | 'softTimeoutMs' | 'hardTimeoutMs' | 'refreshAheadMs' | 'storeResult'>;

/** How a method returns: decided from `design:returntype` when emitted, else from its first result. */
export type ResultShape = 'promise' | 'observable' | 'sync';

type AnyArgs = readonly unknown[];
type Callbacks = CacheMemoizeOptions<AnyArgs, unknown>;
export type MethodImpl = (this: unknown, ...args: unknown[]) => unknown;

export interface MemoizedMethodConfig {
  /** 'ClassName.methodName', used in every message. */
  owner: string;
  namespace: string;
  prefix: string;
  /** `prefix:namespace:version:` */
  keyBase: string;
  ttlMs: number;
  memoizer: Memoizer;
  /** Tag keys of the namespace segments, carried by every entry. */
  namespaceTagKeys: readonly string[];
  options: Callbacks;
  base: BasePolicy;
  hooks?: CacheHooks;
  counters?: Counters;
  onHookError?: (hook: string, error: unknown) => void;
  shapeHint?: ResultShape;
  warn: (message: string) => void;
}

/**
 * One decorated method, resolved against the module's options: builds keys and policies and
 * produces the wrapper installed on the provider instance.
 */
export class MemoizedMethod {
  readonly owner: string;
  readonly namespace: string;
  readonly memoizer: Memoizer;
  readonly ttlMs: number;
  private shape: ResultShape | undefined;
  private warnedSyncRemote = false;
  private readonly staticPolicy: MemoizePolicy | undefined;

  constructor(private readonly config: MemoizedMethodConfig) {
    this.owner = config.owner;
    this.namespace = config.namespace;
    this.memoizer = config.memoizer;
    this.ttlMs = config.ttlMs;
    this.shape = config.shapeHint;
    const { tags, resultTags, etag } = config.options;
    // Methods whose tags do not depend on the arguments share one policy object (hot path).
    if (typeof tags !== 'function' && resultTags === undefined && etag === undefined) {
      this.staticPolicy = this.makePolicy(tags === undefined ? [] : this.tagKeysOf(tags), []);
    }
    config.memoizer.registerLifetime(config.ttlMs + (config.base.graceMs ?? 0));
  }

  keyFor(args: AnyArgs): string {
    const { key } = this.config.options;
    const encoded = key === undefined ? encodeArgs(args, this.owner) : encodeValue(key(...args), this.owner);
    return composeKey(this.config.keyBase, encoded);
  }

  /** Key for an argument part already encoded canonically (the interceptor's HTTP fast path). */
  keyForEncoded(encoded: string): string {
    return composeKey(this.config.keyBase, encoded);
  }

  /** Key for an explicit value (the interceptor's request description). */
  keyForValue(value: unknown): string {
    return composeKey(this.config.keyBase, encodeValue(value, this.owner, 'request'));
  }

  policyFor(args: AnyArgs): MemoizePolicy {
    if (this.staticPolicy !== undefined) return this.staticPolicy;
    const { tags } = this.config.options;
    const argTags = tags === undefined ? [] : typeof tags === 'function' ? tags(...args) : tags;
    return this.makePolicy(this.tagKeysOf(argTags), args);
  }

  /** The function installed in place of the original method; it carries its handle. */
  wrap(original: MethodImpl): MethodImpl {
    const self = this;
    const wrapped = function memoized(this: unknown, ...args: unknown[]): unknown {
      return self.call(this, original, args);
    };
    Object.defineProperty(wrapped, MEMOIZED_METHOD, { value: { method: this, original } satisfies WrapperInfo });
    return wrapped;
  }

  get hasHooks(): boolean {
    return this.config.hooks !== undefined;
  }

  /** Calls a hook; a hook that throws is reported, never thrown into the call. */
  fireHook(name: keyof CacheHooks, info: Omit<CacheHookInfo, 'method' | 'store'>): void {
    const hook = this.config.hooks?.[name];
    if (hook === undefined) return;
    try {
      hook({ ...info, method: this.owner, store: this.memoizer.name });
    } catch (error) {
      this.config.onHookError?.(name, error);
    }
  }

  private withHooks(policy: MemoizePolicy, key: string, args: readonly unknown[]): MemoizePolicy {
    return {
      ...policy,
      report: (state) => this.fireHook(state === 'fresh' ? 'onHit' : state === 'stale' ? 'onStale' : 'onMiss', { key, args }),
    };
  }

  /** withCacheMode(): 'bypass' calls the method as is; 'refresh' recomputes and stores. */
  private callInMode(mode: 'refresh' | 'bypass', thisArg: unknown, original: MethodImpl, args: unknown[]): unknown {
    if (mode === 'bypass') return original.apply(thisArg, args);
    if (this.shape === 'sync' && this.memoizer.isLocal) {
      const key = this.keyFor(args);
      this.memoizer.deleteKeys([key]).catch(() => undefined); // local: applied synchronously
      return this.memoizer.getOrSetSync(key, () => original.apply(thisArg, args), this.policyFor(args));
    }
    if (this.shape === 'observable') {
      return defer(() => from(this.refresh(thisArg, original, args))).pipe(mergeMap((values) => from(values as unknown[])));
    }
    return this.refresh(thisArg, original, args);
  }

  /** Recomputes and stores the value for these arguments, whatever is cached. */
  async refresh(thisArg: unknown, original: MethodImpl, args: unknown[]): Promise<unknown> {
    const key = this.keyFor(args);
    const policy = this.policyFor(args);
    return this.memoizer.refresh(key, () => settle(original.apply(thisArg, args)), policy);
  }

  /** The cached value for these arguments if it is fresh, without computing (`undefined` otherwise). */
  async peek(args: unknown[]): Promise<{ value: unknown } | undefined> {
    const hit = await this.memoizer.peek(this.keyFor(args), this.policyFor(args));
    return hit === undefined ? undefined : { value: hit.v };
  }

  /** The key, the store and what a call with these arguments would find (without computing). */
  async explain(args: unknown[]): Promise<MethodExplanation> {
    const key = this.keyFor(args);
    const found = await this.memoizer.explain(key, this.policyFor(args));
    return { method: this.owner, key, store: this.memoizer.name, namespace: this.namespace, ...found };
  }

  async invalidate(args: unknown[]): Promise<void> {
    await this.memoizer.deleteKeys([this.keyFor(args)]);
  }

  call(thisArg: unknown, original: MethodImpl, args: unknown[]): unknown {
    const { skip } = this.config.options;
    if (skip !== undefined && skip(...args)) return original.apply(thisArg, args);
    const mode = currentCacheMode();
    if (mode !== undefined) return this.callInMode(mode, thisArg, original, args);
    const key = this.keyFor(args);
    let policy = this.policyFor(args);
    if (this.config.hooks !== undefined) policy = this.withHooks(policy, key, args);
    const invoke = (): unknown => original.apply(thisArg, args);
    switch (this.shape) {
      case 'promise':
        return this.memoizer.getOrSet(key, invoke, policy);
      case 'observable':
        return this.observable(key, invoke as () => Observable<unknown>, policy);
      case 'sync':
        return this.sync(key, invoke, policy);
      default:
        return this.firstCall(key, invoke, policy);
    }
  }

  private firstCall(key: string, invoke: () => unknown, policy: MemoizePolicy): unknown {
    const result = invoke();
    if (isObservable(result)) {
      this.shape = 'observable';
      return this.observable(key, () => result, policy);
    }
    if (isThenable(result)) {
      this.shape = 'promise';
      result.then(undefined, () => undefined); // the caller sees the rejection via getOrSet
      return this.memoizer.getOrSet(key, () => result, policy);
    }
    this.shape = 'sync';
    return this.sync(key, () => result, policy);
  }

  private sync(key: string, invoke: () => unknown, policy: MemoizePolicy): unknown {
    if (this.memoizer.isLocal) return this.memoizer.getOrSetSync(key, invoke, policy);
    if (!this.warnedSyncRemote) {
      this.warnedSyncRemote = true;
      this.config.warn(
        `${this.owner} returns synchronously but its store '${this.memoizer.name}' is asynchronous: ` +
          `it runs uncached. Make the method async (return a Promise) or use an in-process store.`,
      );
    }
    return invoke();
  }

  /** Observables are cached as the array of their emissions and replayed whole on a hit. */
  private observable(key: string, invoke: () => Observable<unknown>, policy: MemoizePolicy): Observable<unknown> {
    return defer(() =>
      from(this.memoizer.getOrSet(key, () => lastValueFrom(invoke().pipe(toArray())), policy)),
    ).pipe(mergeMap((values) => from(values as unknown[])));
  }

  private makePolicy(argTagKeys: readonly string[], args: AnyArgs): MemoizePolicy {
    const { cacheIf, resultTags, etag } = this.config.options;
    const policy: MemoizePolicy = {
      ...this.config.base,
      ttlMs: this.config.ttlMs,
      counters: this.config.counters,
      tagKeys: argTagKeys.length > 0 ? [...this.config.namespaceTagKeys, ...argTagKeys] : this.config.namespaceTagKeys,
      owner: this.owner,
    };
    if (cacheIf !== undefined) policy.cacheIf = (value) => cacheIf(value);
    if (etag !== undefined) policy.etag = String(etag(...args));
    if (resultTags !== undefined) {
      policy.resultTagKeys = (value) => this.tagKeysOf(resultTags(value, ...args));
    }
    return policy;
  }

  private tagKeysOf(tags: unknown): string[] {
    return tagKeysFor(this.config.prefix, tags, this.owner);
  }
}

export interface MethodExplanation {
  method: string;
  key: string;
  store: string;
  namespace: string;
  /** fresh: a call would hit; stale: served within grace while refreshing; miss: it would compute. */
  state: 'fresh' | 'stale' | 'miss';
  expiresAt?: number;
  /** Where the entry was found: the store, or a tiered store's L1. */
  source?: 'l1' | 'store';
}

/** Symbol under which a wrapper keeps its MemoizedMethod and the original function. */
export const MEMOIZED_METHOD = Symbol('CACHE_MEMOIZE:METHOD');
export interface WrapperInfo {
  method: MemoizedMethod;
  original: MethodImpl;
}

/** A method result as a plain awaited value (an Observable becomes the array of its emissions). */
async function settle(result: unknown): Promise<unknown> {
  return isObservable(result) ? lastValueFrom(result.pipe(toArray())) : result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
