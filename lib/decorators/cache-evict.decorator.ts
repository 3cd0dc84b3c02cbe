import { Logger, type Type } from '@nestjs/common';
import { concat, from, ignoreElements, isObservable, Observable, switchMap } from 'rxjs';
import { CACHE_EVICT_METADATA, ENGINE_REF } from '../constants';
import type { MethodArgs, MethodName } from '../types/method-types';
import type { ArgsOnly } from '../types/options';
import { isThenable } from '../method/result-shape';
import { inheritIdentity } from '../method/wrapper';
import { unlinkedEvictor } from '../method/linked-apps';

/** What a method whose result is R returns: R itself, a promise of it, or a stream of it (its last value). */
type ResultOf<R> = Awaited<R> | PromiseLike<Awaited<R>> | Observable<Awaited<R>>;
type Source<A extends readonly unknown[]> = readonly string[] | ((...args: A) => readonly string[]);

/** One memoized call to bust: `evictCall(UserService, 'getUser', (id: number) => [id])`. */
export interface EvictCall<A extends readonly unknown[] = never> {
  readonly cls: Function;
  readonly method: string;
  readonly args: (...args: A) => readonly unknown[];
}

export function evictCall<T, K extends MethodName<T>, A extends readonly unknown[]>(
  cls: Type<T>,
  method: K,
  args: (...args: A) => readonly [...MethodArgs<T, K>],
): EvictCall<A> {
  return { cls, method, args };
}

/** What `@CacheEvict` busts; callbacks get the decorated method's arguments. */
export interface CacheEvictOptions<A extends readonly unknown[] = never, R = unknown> {
  tags?: Source<A>;
  /** Tags known from the result of the decorated method (after it succeeded). */
  resultTags?: (result: Awaited<R>, ...args: ArgsOnly<A>) => readonly string[];
  keys?: Source<A>;
  namespaces?: Source<A>;
  methods?: ReadonlyArray<EvictCall<A>>;
  /** Only this store (default: every store). */
  store?: string;
  /** Bust before running the method instead of after it succeeded. Default false. */
  before?: boolean;
  /**
   * When the cache cannot be invalidated: 'throw' (default) rejects the call with an
   * InvalidationFailedError carrying the method's result; 'log' only logs and reports it.
   */
  onFailure?: 'throw' | 'log';
}

/** The part of the engine the decorator needs; resolved through the instance at call time. */
export interface Evictor {
  /** What the argument callbacks name now, before the method may change its arguments (opaque here). */
  plan(options: CacheEvictOptions<readonly unknown[], unknown>, args: readonly unknown[], owner: string): unknown;
  /**
   * Busts what the callbacks name (and `earlier`, a plan). Rejects (InvalidationFailedError) when
   * the cache could not be invalidated and `onFailure` is 'throw'.
   */
  evict(
    options: CacheEvictOptions<readonly unknown[], unknown>,
    args: readonly unknown[],
    result: unknown,
    owner: string,
    completed: boolean,
    earlier?: unknown,
  ): Promise<void>;
}

/** What `evict` gets as the result of a stream that emitted nothing: no result tags to take. */
export const NO_RESULT: unique symbol = Symbol('CACHE_MEMOIZE:NO_RESULT');

type EvictTarget = { [ENGINE_REF]?: Evictor; constructor: Function };

/**
 * Busts cache entries when the decorated method succeeds (or before it runs, with `before`).
 * A method that throws busts nothing. Works on any provider or controller method: the method is
 * wrapped where it is declared, so the callbacks get the method's real arguments.
 */
export function CacheEvict<A extends readonly unknown[] = never, R = unknown>(options: CacheEvictOptions<A, R>) {
  // An annotated resultTags (`(user: User) => ...`) is checked against what the method returns.
  return <F extends (...args: [...A, ...never[]]) => ResultOf<R>>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): void => {
    const original = descriptor.value as unknown as (this: EvictTarget, ...args: unknown[]) => unknown;
    const owner = `${target.constructor.name}.${String(propertyKey)}`;
    const spec = options as CacheEvictOptions<readonly unknown[], unknown>;
    // Request-scoped and hand-made instances: the apps that provide the class, looked up once per
    // call, so the plan made before the method and the bust after it go to the same apps.
    // Called detached (`ids.map(w.touch)`: no this), it still busts through the apps providing its class.
    const evictorOf = (self: EvictTarget | undefined) =>
      self?.[ENGINE_REF] ?? unlinkedEvictor(self?.constructor ?? target.constructor);
    type Of = Evictor | undefined;
    const evict = (evictor: Of, args: unknown[], result: unknown, completed: boolean, earlier?: unknown) =>
      evictor ? evictor.evict(spec, args, result, owner, completed, earlier) : Promise.resolve();
    // A method may change its arguments (`user.email = next`): what they named as passed is busted too.
    const fromArgs = [spec.tags, spec.keys, spec.namespaces].some((s) => typeof s === 'function') || !!spec.methods;
    const plan = (evictor: Of, args: unknown[]) => (fromArgs ? evictor?.plan(spec, args, owner) : undefined);
    // Nobody awaits a synchronous method's bust: its failure is logged (with onFailure 'log', already was).
    const logFailure = (error: unknown) =>
      new Logger('CacheMemoize').error(error instanceof Error ? error.message : String(error));
    let returns = declaredReturn(target, propertyKey, original);
    const wrapped = function (this: EvictTarget, ...args: unknown[]): unknown {
      const evictor = evictorOf(this);
      if (spec.before) {
        const busted = evict(evictor, args, undefined, false);
        busted.catch(() => undefined); // reported through the chains below; a body that throws leaves it unread
        if (returns === 'promise') return busted.then(() => original.apply(this, args));
        if (returns === 'observable') {
          return from(busted).pipe(switchMap(() => original.apply(this, args) as Observable<unknown>));
        }
        const result = original.apply(this, args);
        returns ??= returnOf(result, owner);
        // Learned from this first call (the body already ran): the call still reports a failed bust.
        if (returns === 'observable') return concat(from(busted).pipe(ignoreElements()), result as Observable<unknown>);
        if (returns === 'promise') return Promise.all([busted, result]).then(([, value]) => value);
        busted.catch(logFailure);
        return result; // sync (its type says so): in-process stores apply it at once; others only log
      }
      const earlier = plan(evictor, args);
      const result = original.apply(this, args);
      if (isObservable(result))
        return bustAfterStream(result, (last, done) => evict(evictor, args, last, done, earlier));
      if (isThenable(result)) {
        return result.then(async (value) => {
          await evict(evictor, args, value, true, earlier);
          return value;
        });
      }
      // Sync (a handler too): in-process stores apply it at once; others only log.
      evict(evictor, args, result, true, earlier).catch(logFailure);
      return result;
    };
    inheritIdentity(original, wrapped);
    Reflect.defineMetadata(CACHE_EVICT_METADATA, spec, wrapped);
    descriptor.value = wrapped as unknown as F;
  };
}

/** `@InvalidateTags((id: number) => [\`user:${id}\`])`: shorthand for `@CacheEvict({ tags })`. */
export function InvalidateTags<A extends readonly unknown[] = never>(
  tags: Source<A>,
  options: Omit<CacheEvictOptions<A>, 'tags'> = {},
) {
  return CacheEvict<A>({ ...options, tags });
}

type Returns = 'promise' | 'observable' | 'sync';

/** What the method returns, from its declaration: `async`, or a `Promise`/`Observable` return type (TypeScript's metadata). */
function declaredReturn(target: object, key: string | symbol, fn: Function): Returns | undefined {
  if (fn.constructor.name === 'AsyncFunction') return 'promise';
  const type = Reflect.getMetadata('design:returntype', target, key) as unknown;
  if (type === Promise) return 'promise';
  if (typeof type === 'function' && (type === Observable || type.prototype instanceof Observable)) return 'observable';
  return undefined;
}

const warnedReturns = new Set<string>();

/** Undeclared: what the first call returned. A Promise or Observable there ran before the bust, once: say so. */
function returnOf(result: unknown, owner: string): Returns {
  const kind: Returns = isObservable(result) ? 'observable' : isThenable(result) ? 'promise' : 'sync';
  if (kind !== 'sync' && !warnedReturns.has(owner)) {
    warnedReturns.add(owner);
    new Logger('CacheMemoize').warn(
      `@CacheEvict({ before: true }) on ${owner}: the method returns ${kind === 'promise' ? 'a Promise' : 'an Observable'} but ` +
        `is not declared to (async, or a return type of ${kind === 'promise' ? 'Promise<...>' : 'Observable<...>'}), so its ` +
        `first call ran before the bust. Later calls wait for it. Declare it async or annotate its return type.`,
    );
  }
  return kind;
}

/**
 * The bust runs when the source completes, before the completion reaches the subscriber (its
 * failure does). A subscriber that leaves first (`firstValueFrom`, `take(1)`) starts it in the
 * background: the write may have happened, and a bust too many only costs a recomputation.
 */
function bustAfterStream(
  source: Observable<unknown>,
  bust: (last: unknown, completed: boolean) => Promise<void>,
): Observable<unknown> {
  return new Observable<unknown>((subscriber) => {
    let last: unknown = NO_RESULT;
    let settled = false;
    const inner = source.subscribe({
      next: (value) => {
        last = value;
        subscriber.next(value);
      },
      error: (error: unknown) => {
        settled = true;
        subscriber.error(error);
      },
      complete: () => {
        settled = true;
        bust(last, true).then(
          () => subscriber.complete(),
          (error: unknown) => subscriber.error(error),
        );
      },
    });
    return () => {
      inner.unsubscribe();
      if (!settled) bust(last, true).catch(() => undefined);
      settled = true;
    };
  });
}
