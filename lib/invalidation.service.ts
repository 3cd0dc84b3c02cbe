import { Injectable, type Type } from '@nestjs/common';
import { CacheMemoizeEngine } from './cache-memoize.engine';
import { allTagKey, namespaceTagKey, tagKeysFor, validateSegment } from './core/keys';
import type { Memoizer } from './core/memoizer';

/** Names of T's methods. */
export type MethodName<T> = {
  [K in keyof T]: T[K] extends (...args: never) => unknown ? K : never;
}[keyof T] &
  string;

/** Parameter list of T's method K. */
export type MethodArgs<T, K extends keyof T> = T[K] extends (...args: infer P) => unknown ? P : never;

export interface StoreSelector {
  /** Only this store; default: every store. */
  store?: string;
}

/**
 * Busts entries by key, by method + arguments, by tag or by namespace. Each call resolves once the
 * invalidation is written to the store(s): a call that starts afterwards will not see the old value.
 */
@Injectable()
export class InvalidationService {
  constructor(private readonly engine: CacheMemoizeEngine) {}

  /** Entries created at or before this call that carry any of the tags become stale. O(1) per tag. */
  async invalidateTags(tags: readonly string[], options: StoreSelector = {}): Promise<void> {
    const keys = tagKeysFor(this.engine.prefix, tags, 'InvalidationService.invalidateTags', (message) => new TypeError(message));
    await this.each(options, (m) => m.invalidateTagKeys(keys));
  }

  /** Deletes exact keys (as produced by `keyOf`, logs or events). */
  async invalidateKeys(keys: readonly string[], options: StoreSelector = {}): Promise<void> {
    await this.each(options, (m) => m.deleteKeys(keys));
  }

  /** Deletes the entry that `instance.method(...args)` would read. Checked at compile time. */
  async invalidateMethod<T, K extends MethodName<T>>(cls: Type<T>, method: K, args: MethodArgs<T, K>): Promise<void> {
    const resolved = this.engine.method(cls, method);
    await resolved.memoizer.deleteKeys([resolved.keyFor(args as readonly unknown[])]);
  }

  /** The key `instance.method(...args)` uses (for logs, debugging or invalidateKeys). */
  keyOf<T, K extends MethodName<T>>(cls: Type<T>, method: K, args: MethodArgs<T, K>): string {
    return this.engine.method(cls, method).keyFor(args as readonly unknown[]);
  }

  /**
   * Invalidates a namespace and every namespace below it: 'UserService' covers
   * 'UserService.getUser' and 'UserService.list'. O(1), no key scan.
   */
  async invalidateNamespace(namespace: string, options: StoreSelector = {}): Promise<void> {
    validateSegment(namespace, 'namespace', 'InvalidationService.invalidateNamespace', 100);
    const key = namespaceTagKey(this.engine.prefix, namespace);
    await this.each(options, (m) => m.invalidateTagKeys([key]));
  }

  /** Removes every entry of this app (its prefix) from one store or all. */
  async clear(options: StoreSelector = {}): Promise<void> {
    const prefix = this.engine.prefix;
    await this.each(options, (m) => m.clear(`${prefix}:`, allTagKey(prefix)));
  }

  private async each(options: StoreSelector, run: (m: Memoizer) => Promise<void>): Promise<void> {
    await Promise.all(this.engine.memoizersFor(options.store).map(run));
  }
}
