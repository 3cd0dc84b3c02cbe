import type { Memoizer } from '../engine/memoizer';
import type { CacheErrorsOptions, CacheHooks } from '../types/options';
import type { CachePolicy } from '../types/policy';
import type { ResultShape } from './result-shape';

type Args = readonly unknown[];

/** The decorator's per-call callbacks, checked to be functions at bootstrap. */
export interface MethodCallbacks {
  key?: (...args: Args) => unknown;
  instanceKey?: (instance: object) => unknown;
  tags?: (...args: Args) => readonly string[];
  resultTags?: (result: unknown, ...args: Args) => readonly string[];
  skip?: (...args: Args) => boolean;
  etag?: (...args: Args) => string | number;
  /** The `ttl` option given as a function of the result. */
  ttl?: (result: unknown, ...args: Args) => unknown;
}

export interface ResolvedMethodConfig {
  /** 'ClassName.methodName', used in every message. */
  owner: string;
  namespace: string;
  prefix: string;
  /** `prefix:namespace:version:` */
  keyBase: string;
  memoizer: Memoizer;
  policy: CachePolicy;
  callbacks: MethodCallbacks;
  hooks?: CacheHooks;
  shapeHint?: ResultShape;
  /** `cacheErrors` (promise-returning provider methods). */
  cacheErrors?: CacheErrorsOptions;
  warn: (message: string) => void;
  onHookError?: (hook: string, error: unknown) => void;
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
