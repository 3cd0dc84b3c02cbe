import * as nest from '@nestjs/common';
import { HttpException } from '@nestjs/common';
import { CachedErrorRecord } from '../codec/cached-error-record';
import type { Memoizer } from '../engine/memoizer';
import { currentControl } from '../engine/reentry';
import { CachedError, InvalidOptionError } from '../errors';
import type { CacheErrorsOptions } from '../types/options';
import type { CachePolicy } from '../types/policy';
import type { ResultShape } from './result-shape';
import { parseDuration } from '../util/duration';

/** An error kept by an in-process store: the same instance is thrown on every hit. */
class ErrorBox {
  constructor(readonly error: unknown) {}
}

/** The error a computing call threw, for the callers of this process that got its record. */
const originals = new WeakMap<object, unknown>();

/** Nest's own HttpException subclasses, by name: a cached 404 comes back as a NotFoundException. */
function nestClass(name: string | undefined): typeof HttpException | undefined {
  const candidate = name === undefined ? undefined : (nest as Record<string, unknown>)[name];
  return typeof candidate === 'function' && (candidate as { prototype: unknown }).prototype instanceof HttpException
    ? (candidate as typeof HttpException)
    : undefined;
}

/** The nearest of Nest's classes an HttpException is an instance of (itself, or what it extends). */
function nestBase(error: HttpException): string | undefined {
  for (
    let proto = Object.getPrototypeOf(error) as object | null;
    proto !== null;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (nestClass(name)?.prototype === proto) return name;
  }
  return undefined;
}

/** The error a hit throws, from what a shared store kept. */
function rebuild(record: CachedErrorRecord): Error {
  if (record.status !== undefined) {
    const error = new HttpException(record.response as string | Record<string, unknown>, record.status);
    Object.setPrototypeOf(error, (nestClass(record.name) ?? nestClass(record.base) ?? HttpException).prototype);
    error.name = record.name;
    error.message = record.message;
    return error;
  }
  return new CachedError(record.name, record.message, record.code, record.httpStatus, record.expose);
}

function recordOf(error: unknown): CachedErrorRecord {
  const e = error instanceof Error ? error : new Error(String(error));
  const record = new CachedErrorRecord();
  record.name = e.name;
  record.message = e.message;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') record.code = code;
  if (e instanceof HttpException) {
    record.status = e.getStatus();
    record.response = e.getResponse();
    record.base = nestBase(e);
  } else {
    // What Nest's filter reads of an http-errors style error: statusCode, and expose for the message.
    const { statusCode, expose } = e as { statusCode?: unknown; expose?: unknown };
    if (Number.isInteger(statusCode) && (statusCode as number) >= 400 && (statusCode as number) <= 599) {
      record.httpStatus = statusCode as number;
      if (typeof expose === 'boolean') record.expose = expose;
    }
  }
  originals.set(record, error);
  return record;
}

/**
 * `cacheErrors`: errors the method throws that match are stored as its result for their own ttl
 * (no grace), and every hit throws them again — the memory store the same instance, shared stores
 * Nest's HttpException family as the same class with the same status and body, other errors as a
 * CachedError with their name, message and code. The call that computed it (and its joiners in
 * this process) get the original error.
 */
export class ErrorCache {
  private readonly matches: (error: unknown) => boolean;
  private readonly ttlMs: number;
  private warned = false;

  constructor(
    options: CacheErrorsOptions,
    private readonly inProcess: boolean,
    private readonly where: string,
    private readonly warn: (message: string) => void = () => undefined,
  ) {
    const when = options.when;
    const isClass = (f: unknown) => f === Error || (f as { prototype?: unknown }).prototype instanceof Error;
    if (typeof when === 'function' && isClass(when))
      throw new InvalidOptionError(
        `${where}: option cacheErrors.when is the error class ${when.name}, not a predicate: pass an array, e.g. when: [${when.name}].`,
      );
    if (typeof when === 'function') this.matches = (error) => (when as (error: unknown) => boolean)(error) === true;
    else if (Array.isArray(when) && when.every((c) => typeof c === 'function'))
      this.matches = (error) => when.some((cls) => error instanceof cls);
    else
      throw new InvalidOptionError(
        `${where}: option cacheErrors.when must be (error) => boolean or an array of error classes, e.g. [NotFoundException].`,
      );
    if (options.ttl === undefined)
      throw new InvalidOptionError(
        `${where}: option cacheErrors.ttl is required (how long a cached error is served), e.g. cacheErrors: { when: [NotFoundException], ttl: '30s' }.`,
      );
    this.ttlMs = parseDuration(options.ttl, `${where}: option cacheErrors.ttl`);
  }

  /** The computation, with matching errors turned into a value to store. */
  factory(invoke: () => unknown): () => Promise<unknown> {
    return () => {
      const control = currentControl(); // the computation's own, read at its synchronous start
      // A synchronous throw is the method's error as a rejection is.
      return new Promise((resolve) => resolve(invoke())).catch((error: unknown) => {
        if (!this.cached(error)) throw error;
        if (control !== undefined) {
          // Its own ttl only: no grace, and no stale-if-error fallback kept past it.
          control.ttlMs = this.ttlMs;
          control.graceMs = 0;
          control.staleIfErrorMs = 0;
        }
        return this.inProcess ? new ErrorBox(error) : recordOf(error);
      });
    };
  }

  /** Whether `when` says so; a `when` that throws caches nothing, and the caller gets the method's error. */
  private cached(error: unknown): boolean {
    try {
      return this.matches(error);
    } catch (failure) {
      if (!this.warned) {
        this.warned = true;
        const reason = failure instanceof Error ? failure.message : String(failure);
        this.warn(`${this.where}: cacheErrors.when threw (${reason}); the method's error is not cached.`);
      }
      return false;
    }
  }

  /** What a call returns: the value, or the cached error thrown again. */
  static readonly unwrap = <T>(value: T): T => {
    ErrorCache.throwIfError(value);
    return value;
  };

  /** A cached error is thrown again; any other value is left alone. */
  static throwIfError(value: unknown): void {
    if (value instanceof ErrorBox) throw value.error;
    if (value instanceof CachedErrorRecord) throw originals.get(value) ?? rebuild(value);
  }

  /** Values a cacheIf, resultTags, validate or ttl callback must not see (never user data: classes). */
  static isError(value: unknown): boolean {
    return value instanceof ErrorBox || value instanceof CachedErrorRecord;
  }
}

/** The `cacheErrors` of a method on its store, checked (bootstrap fails naming the method). */
export function errorCacheOf(
  method: {
    cacheErrors?: CacheErrorsOptions;
    memoizer: Memoizer;
    owner: string;
    policy: CachePolicy;
    shapeHint?: ResultShape;
  },
  warn: (message: string) => void,
): ErrorCache | undefined {
  const { cacheErrors: options, memoizer, owner, shapeHint } = method;
  if (options === undefined) return undefined;
  const where = `@CacheMemoize on ${owner}`;
  if (shapeHint !== undefined && shapeHint !== 'promise')
    throw new InvalidOptionError(
      `${where}: option cacheErrors applies to methods that return a Promise; this one returns ${shapeHint === 'sync' ? 'a plain value' : 'an Observable'}.`,
    );
  if (!memoizer.isLocal && memoizer.serializer.cachesErrors !== true)
    throw new InvalidOptionError(
      `${where}: option cacheErrors needs a codec that keeps cached errors as such (the default tagged-JSON codec); ` +
        `the serializer '${memoizer.serializer.name}' of store '${memoizer.name}' would bring them back as plain values.`,
    );
  if (!method.policy.storeResult)
    throw new InvalidOptionError(
      `${where}: options cacheErrors and storeResult: false do not go together: the entry would hold a marker, ` +
        `and a cached error would come back as a success. Drop one of them.`,
    );
  return new ErrorCache(options, memoizer.isLocal, where, warn);
}
