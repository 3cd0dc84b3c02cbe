import { isObservable, type Observable } from 'rxjs';
import type { Memoizer } from '../engine/memoizer';
import { runDetached } from '../engine/reentry';
import { composeKey, keyRest, tagKeysFor } from '../keys/keys';
import { encodeArgs, encodeValue } from '../keys/key-encoder';
import type { CacheHookInfo, CacheHooks } from '../types/options';
import type { CachePolicy, CallScope } from '../types/policy';
import { UnknownMethodError } from '../errors';
import { parseDuration } from '../util/duration';
import { headerEtag } from '../util/hash-text';
import { onRejection } from '../util/rejection';
import { cacheStateOf, isPutKey, modeOf } from './cache-mode';
import { ErrorCache, errorCacheOf } from './error-cache';
import { collect, isThenable, replay, settle, type ResultShape } from './result-shape';
import type { ResolvedMethodConfig } from './method-config';
import { applyKeyed, checkKeyed } from './keyed-invoke';
import { keyOption, optionCall } from '../util/option-call';

export type { ResultShape } from './result-shape';
export type { MethodCallbacks, MethodExplanation, ResolvedMethodConfig } from './method-config';
export type MethodImpl = (this: unknown, ...args: unknown[]) => unknown;
type Args = readonly unknown[];

/** Symbol under which a wrapper keeps its ResolvedMethod and the original function. */
export const MEMOIZED_METHOD = Symbol('CACHE_MEMOIZE:METHOD');
export interface WrapperInfo {
  method: ResolvedMethod;
  original: MethodImpl;
}

/**
 * One decorated method, resolved once against the module's options (frozen policy, checked
 * callbacks): builds keys and call scopes and produces the wrapper installed on the instance.
 * The service wrapper, the interceptor and handles all go through it. Nothing it computes for
 * itself (key, tags, etag) can fail a call: such a call runs uncached, and is reported once.
 */
export class ResolvedMethod {
  readonly owner: string;
  readonly namespace: string;
  readonly memoizer: Memoizer;
  readonly policy: CachePolicy;
  private shape: ResultShape | undefined;
  private readonly warned = new Set<string>();
  /** Whether calls need a scope of their own (per-call tags, result tags, etag or hooks). */
  private readonly dynamic: boolean;
  private readonly errors: ErrorCache | undefined;
  /** cacheErrors: its errors, kept in process or computed here, are thrown (shared stores: also policy.reveal). */
  private readonly unwrap: (<T>(value: T) => T) | undefined;

  constructor(private readonly config: ResolvedMethodConfig) {
    this.owner = config.owner;
    this.namespace = config.namespace;
    this.memoizer = config.memoizer;
    this.policy = config.policy;
    this.shape = config.shapeHint;
    const { tags, resultTags, etag, ttl } = config.callbacks;
    this.dynamic = [tags, resultTags, etag, ttl, config.hooks].some((c) => c !== undefined);
    const { policy } = config;
    config.memoizer.registerLifetime(policy.ttlMs + Math.max(policy.graceMs, policy.staleIfErrorMs ?? 0));
    this.errors = errorCacheOf(config, (m) => config.warn(m));
    this.unwrap = this.errors !== undefined ? ErrorCache.unwrap : undefined;
  }

  /** `instance`: the object the method is called on (needed with `instanceKey`). */
  keyFor(args: Args, instance?: unknown): string {
    return this.config.keyBase + this.restFor(args, instance);
  }

  /** The key's part after the method's key base (the same string on every call). */
  private restFor(args: Args, instance?: unknown): string {
    const { key, instanceKey } = this.config.callbacks;
    let encoded =
      key === undefined
        ? encodeArgs(args, this.owner)
        : encodeValue(
            keyOption(() => key(...args)),
            this.owner,
          );
    if (instanceKey !== undefined) {
      if (typeof instance !== 'object' || instance === null) {
        throw new UnknownMethodError(
          `${this.owner} is keyed by its instance (instanceKey): pass the instance, e.g. invalidateMethod(Cls, 'method', args, { instance }).`,
        );
      }
      encoded = `${encodeValue(instanceKey(instance), this.owner, 'instanceKey')}|${encoded}`;
    }
    return keyRest(this.config.keyBase, encoded);
  }

  /** The keys a call with these arguments reads (one; a batch method's are one per id). */
  keysFor(args: Args, instance?: unknown): string[] {
    return [this.keyFor(args, instance)];
  }

  /** Key for an argument part already encoded canonically (the interceptor's HTTP key). */
  keyForEncoded(encoded: string): string {
    return composeKey(this.config.keyBase, encoded);
  }

  /** Key for an explicit value (the interceptor's RPC and GraphQL keys). */
  keyForValue(value: unknown): string {
    return composeKey(this.config.keyBase, encodeValue(value, this.owner, 'request'));
  }

  /** What this call adds to the method's policy, or undefined when nothing does. */
  scopeFor(args: Args, key: string, extraDeps?: readonly string[]): CallScope | undefined {
    if (!this.dynamic && extraDeps === undefined) return undefined;
    const { tags, resultTags, etag, ttl } = this.config.callbacks;
    let deps = tags === undefined ? undefined : this.tagKeys(optionCall('tags', () => tags(...args)));
    if (extraDeps !== undefined && extraDeps.length > 0)
      deps = deps === undefined ? [...extraDeps] : [...deps, ...extraDeps];
    const hooks = this.config.hooks;
    return {
      deps,
      depsFromKey: tags !== undefined && extraDeps === undefined ? true : undefined,
      resultDeps:
        resultTags === undefined
          ? undefined
          : (value) => (ErrorCache.isError(value) ? [] : this.tagKeys(resultTags(value, ...args))),
      etag: etag === undefined ? undefined : headerEtag(String(etag(...args))),
      ttlOf:
        ttl === undefined
          ? undefined
          : (value) => parseDuration(ttl(value, ...args), `${this.owner}: option ttl(result)`, { allowZero: true }),
      report:
        hooks === undefined
          ? undefined
          : (state) =>
              this.fireHook(state === 'fresh' ? 'onHit' : state === 'stale' ? 'onStale' : 'onMiss', { key, args }),
    };
  }

  /** The function installed in place of the original method; it carries its handle. */
  wrap(original: MethodImpl): MethodImpl {
    // The wrapper needs its own `this` (the instance) besides this method's.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
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

  /** Calls a hook; a hook that throws (or rejects) is reported, never thrown into the call. */
  fireHook(name: keyof CacheHooks, info: Omit<CacheHookInfo, 'method' | 'store'>): void {
    const hook = this.config.hooks?.[name];
    if (hook === undefined) return;
    try {
      const returned = hook({ ...info, method: this.owner, store: this.memoizer.name });
      onRejection(returned, (error) => this.config.onHookError?.(name, error));
    } catch (error) {
      this.config.onHookError?.(name, error);
    }
  }

  call(thisArg: unknown, original: MethodImpl, args: unknown[]): unknown {
    const base = this.config.keyBase;
    let key: string, rest: string;
    let scope: CallScope | undefined;
    try {
      const { skip } = this.config.callbacks;
      if (skip !== undefined && skip(...args)) return this.uncachedCall(thisArg, original, args);
      const state = cacheStateOf();
      const mode = state === undefined ? undefined : modeOf(state);
      if (mode === 'bypass') return this.uncachedCall(thisArg, original, args);
      rest = this.restFor(args, thisArg);
      key = base + rest;
      // A @CachePut of this key runs this call (a re-read): the source's value, which the put stores.
      if (state !== undefined && isPutKey(state, key)) return this.uncachedCall(thisArg, original, args);
      scope = this.scopeFor(args, key);
      if (mode === 'refresh') return this.refreshCall(thisArg, original, args, key, scope);
    } catch (error) {
      // The cache cannot key or tag this call: the method's own result, uncached.
      this.runsUncached(error);
      return this.uncachedCall(thisArg, original, args);
    }
    // Checked against its key when it runs (keyed-invoke.ts); a hit never calls it.
    const invoke = (): unknown => {
      const encode = (a: readonly unknown[]) => this.restFor(a as unknown[], thisArg);
      checkKeyed(this, () => encode(args) === rest);
      const run = (a: readonly unknown[]) => original.apply(thisArg, a as unknown[]);
      return applyKeyed(this, args, encode, () => rest, run);
    };
    switch (this.shape) {
      case 'promise': {
        const got = this.memoizer.getOrSet(key, this.errors?.factory(invoke) ?? invoke, this.policy, scope, base, rest);
        return this.unwrap === undefined ? got : got.then(this.unwrap);
      }
      case 'observable':
        return this.observable(key, invoke as () => Observable<unknown>, scope);
      case 'sync':
        return this.sync(key, invoke, scope, rest);
      default:
        return this.firstCall(key, invoke, scope);
    }
  }

  /** Recomputes and stores the value for these arguments, whatever is cached. */
  refresh(thisArg: unknown, original: MethodImpl, args: unknown[]): Promise<unknown> {
    const key = this.keyFor(args, thisArg);
    return this.refreshed(thisArg, original, args, key, this.scopeFor(args, key));
  }

  /** Recomputes and stores; an error the method caches (cacheErrors) is stored, and thrown to the refresher. */
  private refreshed(thisArg: unknown, original: MethodImpl, args: unknown[], key: string, scope?: CallScope) {
    const rest = key.slice(this.config.keyBase.length);
    const invoke = () => {
      checkKeyed(this, () => this.restFor(args, thisArg) === rest);
      return settle(original.apply(thisArg, args));
    };
    const run = this.memoizer.refresh(key, this.errors?.factory(invoke) ?? invoke, this.policy, scope);
    return this.unwrap === undefined ? run : run.then(this.unwrap);
  }

  async invalidate(args: unknown[], instance?: unknown): Promise<void> {
    await this.memoizer.invalidateKeys([this.keyFor(args, instance)]);
  }

  /** withCacheMode('refresh'): recompute and store, in the method's own result shape. */
  private refreshCall(
    thisArg: unknown,
    original: MethodImpl,
    args: unknown[],
    key: string,
    scope: CallScope | undefined,
  ): unknown {
    if (this.shape === 'sync' && this.memoizer.isLocal) {
      void this.memoizer.invalidateKeys([key]); // local: applied synchronously
      return this.memoizer.getOrSetSync(key, () => original.apply(thisArg, args), this.policy, scope);
    }
    const refreshed = this.refreshed(thisArg, original, args, key, scope);
    if (this.shape === 'observable') return replay(() => refreshed);
    return refreshed;
  }

  /**
   * The first call of a method whose shape no metadata tells (no `design:returntype`): it must run
   * to be known. A promise is then already under way — started before the versions it depends on
   * could be read — so its value is returned uncached; the next calls are cached. A sync result
   * (nothing can interleave) and an Observable (it runs on subscription) are cached at once.
   */
  private firstCall(key: string, invoke: () => unknown, scope: CallScope | undefined): unknown {
    const result = runDetached(invoke, this.owner);
    if (isObservable(result)) {
      this.shape = 'observable';
      return this.observable(key, () => result, scope);
    }
    if (isThenable(result)) {
      this.shape = 'promise';
      return result;
    }
    this.shape = 'sync';
    return this.sync(key, () => result, scope);
  }

  private sync(key: string, invoke: () => unknown, scope: CallScope | undefined, rest?: string): unknown {
    const { memoizer, policy } = this;
    if (memoizer.isLocal) return memoizer.getOrSetSync(key, invoke, policy, scope, this.config.keyBase, rest);
    this.warnOnce(
      'sync',
      `${this.owner} returns synchronously but its store '${this.memoizer.name}' is asynchronous: it runs uncached. ` +
        `Make the method async (return a Promise) or use an in-process store.`,
    );
    return runDetached(invoke, this.owner);
  }

  /** Observables are cached as the array of their emissions and replayed whole on a hit. */
  private observable(key: string, invoke: () => Observable<unknown>, scope?: CallScope): Observable<unknown> {
    return replay(() => this.memoizer.getOrSet(key, () => collect(invoke()), this.policy, scope));
  }

  private tagKeys(tags: unknown): string[] {
    return tagKeysFor(this.config.prefix, tags, this.owner);
  }

  /** The method itself, uncached (its cacheContext() speaks for nothing). */
  uncachedCall(thisArg: unknown, original: MethodImpl, args: unknown[]): unknown {
    return runDetached(() => original.apply(thisArg, args), this.owner);
  }

  /** The cache cannot key or tag a call: reported (once per kind of error), the call runs uncached. */
  runsUncached(error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    const { owner, memoizer } = this;
    memoizer.ctx.emit({ type: 'error', key: owner, store: memoizer.name, owner, operation: 'key', error });
    this.warnOnce(`key:${error instanceof Error ? error.name : 'error'}`, `${this.owner} runs uncached: ${reason}`);
  }

  warnOnce(id: string, message: string): void {
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.config.warn(message);
  }
}
