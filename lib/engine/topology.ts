import type { CachePolicy, CallScope, Inspection } from '../types/policy';
import type { Flights } from './flights';

/** What computes a value: sync or async. */
export type Factory<T> = () => Promise<T> | T;

/** A write-through's outcome: the write method's value, and why the cache could not be updated. */
export interface PutOutcome<T> {
  readonly value: T;
  readonly failure?: unknown;
}

/**
 * How one store is used, picked once per store (local, remote, two-tier): the engine never asks
 * on a call which kind of store it talks to.
 */
export interface Topology {
  /** Answers synchronously (an in-process store): sync methods can stay sync. */
  readonly local: boolean;
  /**
   * `space` + `rest` (both or neither): `key` in two parts, the first shared by every call of the
   * method (an in-process store then hashes only the rest).
   */
  getOrSet<T>(
    key: string,
    factory: Factory<T>,
    policy: CachePolicy,
    scope?: CallScope,
    space?: string,
    rest?: string,
  ): Promise<T>;
  /** Recomputes and stores whatever is cached; resolves once the value is stored. */
  refresh<T>(key: string, factory: Factory<T>, policy: CachePolicy, scope?: CallScope): Promise<T>;
  /**
   * Write-through (`@CachePut`): reads what the entry records before `run` (the write method)
   * starts, runs it, invalidates the key and stores its value — only invalidates when the key was
   * invalidated or put meanwhile. `run`'s error rejects; a cache failure resolves in `failure`.
   */
  put<T>(key: string, run: () => Promise<T>, policy: CachePolicy, scope?: CallScope): Promise<PutOutcome<T>>;
  /** What a call would find, never computing; `policy`: its check judges values read from a shared store. */
  inspect(key: string, scope?: CallScope, policy?: CachePolicy): Promise<Inspection>;
  /**
   * The entry, if servable, stays fresh for `freshForMs` from now (its grace after that), without
   * recomputing; resolves whether there was one. The policy gives the stale-if-error window to
   * keep and the owner store errors name.
   */
  expire(key: string, freshForMs: number, policy?: CachePolicy, scope?: CallScope): Promise<boolean>;
  /** Entries of these keys (and computations under way for them) are invalidated. */
  invalidateKeys(keys: readonly string[]): Promise<void>;
  /** Entries depending on these tags/namespaces (and computations under way) are invalidated. */
  invalidateDeps(deps: readonly string[]): Promise<void>;
  /** Everything under `prefix`: `allDep` is the dependency every entry of the app carries. */
  clear(prefix: string, allDep: string): Promise<void>;
  /** Its computations under way in this process. */
  readonly flights: Flights;
  /** Version records must outlive entries of this lifetime. */
  registerLifetime(ms: number): void;
  close(): void;
}
