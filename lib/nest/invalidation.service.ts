import { Injectable, Logger, type Type } from '@nestjs/common';
import { NO_RESULT, type CacheEvictOptions, type Evictor } from '../decorators/cache-evict.decorator';
import type { PutTarget } from '../decorators/cache-put.decorator';
import type { ResolvedMethod } from '../method/resolved-method';
import { withPutKey } from '../method/cache-mode';
import { ResolvedMany } from '../method/resolved-many';
import { familyOf, isFamilyRegistered, targetOf } from '../method/method-family';
import type { Memoizer } from '../engine/memoizer';
import { InvalidArgumentError, InvalidationFailedError } from '../errors';
import { evictTargets, unionOf, type EvictTargets } from './evict-targets';
import { allTagKey, namespaceTagKey, tagKeysFor, validateSegment } from '../keys/keys';
import type { MethodArgs, MethodName, StoreSelector } from '../types/method-types';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { kindOf } from '../util/kind-of';

/**
 * Busts entries by key, by method + arguments, by tag or by namespace. Each call resolves once the
 * invalidation is durable in the store(s) (and, tiered, acknowledged by the other instances): a
 * call that starts afterwards, in any instance, will not see the old value. When it cannot be made
 * durable it rejects with a StoreFailureError; this instance then serves none of the affected
 * entries and retries in the background. Also runs `@CacheEvict` and `@InvalidateTags`.
 */
@Injectable()
export class InvalidationService implements Evictor {
  private readonly logger = new Logger('CacheMemoize');

  constructor(private readonly engine: CacheMemoizeEngine) {}

  /** Entries computed before this call that carry any of the tags become stale. O(1) per tag. */
  async invalidateTags(tags: readonly string[], options: StoreSelector = {}): Promise<void> {
    const keys = tagKeysFor(
      this.engine.prefix,
      tags,
      'InvalidationService.invalidateTags',
      (message) => new InvalidArgumentError(message),
    );
    await this.each(options, (m) => m.invalidateDeps(keys));
  }

  /** Invalidates exact keys (as produced by `keyOf`, logs or events). */
  async invalidateKeys(keys: readonly string[], options: StoreSelector = {}): Promise<void> {
    // A string would be busted letter by letter: the entry stays. Refused, as every non-array (and a hole).
    if (!Array.isArray(keys) || Array.from(keys, (k) => typeof k).some((t) => t !== 'string'))
      throw new InvalidArgumentError(
        `InvalidationService.invalidateKeys: expected an array of keys, got ${kindOf(keys)}.`,
      );
    await this.each(options, (m) => m.invalidateKeys(keys));
  }

  /**
   * Invalidates the entry that `instance.method(...args)` would read (a `@CacheMemoizeMany`
   * method: the entry of each id in `args[0]`). Checked at compile time.
   * `instance` is needed for methods keyed by their instance (instanceKey).
   */
  async invalidateMethod<T, K extends MethodName<T>>(
    cls: Type<T>,
    method: K,
    args: MethodArgs<T, K>,
    options: { instance?: T } = {},
  ): Promise<void> {
    // The class given and its registered subclasses (`{ provide: Repo, useClass: SqlRepo }`).
    if (!Array.isArray(args))
      throw new InvalidArgumentError(
        `InvalidationService.invalidateMethod(${cls.name}, '${method}'): args must be the argument list (an array), got ${kindOf(args)}.`,
      );
    const family = familyOf(this.engine.registry, cls, method, options.instance);
    const list = args as readonly unknown[];
    await Promise.all(family.map((m) => m.memoizer.invalidateKeys(m.keysFor(list, options.instance))));
  }

  /** The key `instance.method(...args)` uses (for logs, debugging or invalidateKeys). */
  keyOf<T, K extends MethodName<T>>(
    cls: Type<T>,
    method: K,
    args: MethodArgs<T, K>,
    options: { instance?: T } = {},
  ): string {
    return this.single(cls, method, options.instance).keyFor(args as readonly unknown[], options.instance);
  }

  /**
   * Invalidates a namespace and every namespace below it: 'UserService' covers
   * 'UserService.getUser' and 'UserService.list'. O(1), no key scan.
   */
  async invalidateNamespace(namespace: string, options: StoreSelector = {}): Promise<void> {
    // 'UserService.' reads as "everything under UserService" and matched nothing, silently (new user's trial).
    if (typeof namespace === 'string' && namespace.endsWith('.'))
      throw new InvalidArgumentError(
        `InvalidationService.invalidateNamespace: namespace ${JSON.stringify(namespace)} ends with '.': a namespace is ` +
          `invalidated whole by its name, e.g. '${namespace.replace(/\.+$/, '')}'.`,
      );
    validateSegment(namespace, 'namespace', 'InvalidationService.invalidateNamespace', 100);
    const key = namespaceTagKey(this.engine.prefix, namespace);
    await this.each(options, (m) => m.invalidateDeps([key]));
  }

  /** Removes every entry of this app (its prefix) from one store or all. */
  async clear(options: StoreSelector = {}): Promise<void> {
    const prefix = this.engine.prefix;
    await this.each(options, (m) => m.clear(`${prefix}:`, allTagKey(prefix)));
  }

  /** Whether this app memoizes `cls.method` (or a registered subclass's): where a `@CachePut` of it goes. */
  memoizes(cls: Function, method: string): boolean {
    return this.engine.enabled && isFamilyRegistered(this.engine.registry, cls, method);
  }

  /** What a `@CacheEvict`'s argument callbacks name before its method runs (the method may change the arguments). */
  plan(spec: CacheEvictOptions<readonly unknown[], unknown>, args: readonly unknown[], owner: string): EvictTargets {
    return evictTargets(this.engine, spec, args, owner);
  }

  /**
   * Runs a `@CacheEvict` / `@InvalidateTags` (after the method succeeded, or before with `before`);
   * `earlier`: what its callbacks named on the arguments as passed, busted too.
   */
  async evict(
    spec: CacheEvictOptions<readonly unknown[], unknown>,
    args: readonly unknown[],
    result: unknown,
    owner: string,
    completed: boolean,
    earlier?: unknown,
  ): Promise<void> {
    try {
      // A stream that emitted nothing has no result to take tags from.
      const now = evictTargets(this.engine, spec, args, owner, completed ? result : NO_RESULT);
      const { deps, keys, calls, failed } = unionOf(now, earlier as EvictTargets | undefined);
      const memoizers = this.engine.memoizersFor(spec.store);
      await Promise.all([
        ...(deps.length > 0 ? memoizers.map((m) => m.invalidateDeps(deps)) : []),
        ...(keys.length > 0 ? memoizers.map((m) => m.invalidateKeys(keys)) : []),
        ...calls.map((c) => c.memoizer.invalidateKeys(c.keys)),
      ]);
      if (failed !== undefined) throw failed.error;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const message = completed
        ? `${owner} completed (its result is on error.result), but the cache could not be invalidated: ${reason}`
        : `${owner} did not run: @CacheEvict({ before: true }) could not invalidate the cache first: ${reason}`;
      this.engine.events.publish({
        type: 'error',
        store: spec.store ?? '*',
        key: owner,
        owner,
        operation: 'evict',
        error,
      });
      if (spec.onFailure === 'log') {
        this.logger.error(message);
        return;
      }
      throw new InvalidationFailedError(message, owner, completed, result === NO_RESULT ? undefined : result, error);
    }
  }

  /**
   * Runs a `@CachePut`: the entry records the versions read before the method runs (an
   * invalidation while it runs wins), then its key is invalidated durably and the method's result
   * stored as the entry — unless the key was invalidated or put again meanwhile (only invalidated).
   */
  async put(target: PutTarget, run: () => Promise<unknown>, owner: string): Promise<unknown> {
    let resolved: { method: ResolvedMethod; args: unknown[]; key: string };
    try {
      const method = this.single(target.cls, target.method);
      const args = [...target.args()];
      resolved = { method, args, key: method.keyFor(args) };
    } catch (error) {
      const result = await run();
      return this.putFailed(target, owner, result, error);
    }
    const { method, args, key } = resolved;
    const runFresh = () => withPutKey(key, run); // re-reading the key through the getter reads the source
    const outcome = await method.memoizer.put(key, runFresh, method.policy, method.scopeFor(args, key));
    return outcome.failure === undefined
      ? outcome.value
      : this.putFailed(target, owner, outcome.value, outcome.failure);
  }

  private putFailed(target: PutTarget, owner: string, result: unknown, error: unknown): unknown {
    const reason = error instanceof Error ? error.message : String(error);
    const message = `${owner} completed (its result is on error.result), but @CachePut could not update ${target.cls.name}.${target.method}: ${reason}`;
    this.engine.events.publish({ type: 'error', store: '*', key: owner, owner, operation: 'put', error });
    if (target.onFailure !== 'log') throw new InvalidationFailedError(message, owner, true, result, error);
    this.logger.error(message);
    return result;
  }

  /** The single (not batch) memoized method a call reads (see targetOf). */
  private single(cls: Function, name: string, instance?: unknown): ResolvedMethod {
    const target = targetOf(this.engine.registry, cls, name, instance);
    return target instanceof ResolvedMany ? this.engine.registry.method(cls, name) : target;
  }

  private async each(options: StoreSelector, run: (m: Memoizer) => Promise<void>): Promise<void> {
    await Promise.all(this.engine.memoizersFor(options.store).map(run));
  }
}
