import * as nest from '@nestjs/common';
import { HttpException } from '@nestjs/common';
import { currentControl } from '../engine/reentry';
import { CachedError, InvalidOptionError } from '../errors';
import type { CacheErrorsOptions } from '../types/options';
import { parseDuration } from '../util/duration';

/** An error kept by an in-process store: the same instance is thrown on every hit. */
class ErrorBox {
  constructor(readonly error: unknown) {}
}

const MARK = '~nestjs-cache-memoize:error';
/** An error as a shared store keeps it (plain data the codec can carry). */
interface ErrorRecord {
  [MARK]: 1;
  name: string;
  message: string;
  code?: unknown;
  status?: number;
  response?: unknown;
}

function isRecord(value: unknown): value is ErrorRecord {
  return typeof value === 'object' && value !== null && (value as Record<string, unknown>)[MARK] === 1;
}

/** Nest's own HttpException subclasses, by name: a cached 404 comes back as a NotFoundException. */
function httpClass(name: string): typeof HttpException {
  const candidate = (nest as Record<string, unknown>)[name];
  return typeof candidate === 'function' && (candidate as { prototype: unknown }).prototype instanceof HttpException
    ? (candidate as typeof HttpException)
    : HttpException;
}

/** The error a hit throws, from what a shared store kept. */
function rebuild(record: ErrorRecord): Error {
  if (record.status !== undefined) {
    const error = new HttpException(record.response as string | Record<string, unknown>, record.status);
    Object.setPrototypeOf(error, httpClass(record.name).prototype);
    error.name = record.name;
    return error;
  }
  return new CachedError(record.name, record.message, record.code);
}

/**
 * `cacheErrors`: errors the method throws that match are stored as its result for their own ttl
 * (no grace), and every hit throws them again — the memory store the same instance, shared stores
 * Nest's HttpException family as the same class with the same status and body, other errors as a
 * CachedError with their name, message and code.
 */
export class ErrorCache {
  private readonly matches: (error: unknown) => boolean;
  private readonly ttlMs: number;

  constructor(
    options: CacheErrorsOptions,
    private readonly inProcess: boolean,
    where: string,
  ) {
    const when = options.when;
    if (typeof when === 'function') this.matches = (error) => (when as (error: unknown) => boolean)(error) === true;
    else if (Array.isArray(when) && when.every((c) => typeof c === 'function'))
      this.matches = (error) => when.some((cls) => error instanceof cls);
    else
      throw new InvalidOptionError(
        `${where}: option cacheErrors.when must be (error) => boolean or an array of error classes, e.g. [NotFoundException].`,
      );
    this.ttlMs = parseDuration(options.ttl, `${where}: option cacheErrors.ttl`);
  }

  /** The computation, with matching errors turned into a value to store. */
  factory(invoke: () => unknown): () => Promise<unknown> {
    return () => {
      const control = currentControl(); // the computation's own, read at its synchronous start
      return Promise.resolve(invoke()).catch((error: unknown) => {
        if (!this.matches(error)) throw error;
        if (control !== undefined) {
          control.ttlMs = this.ttlMs;
          control.graceMs = 0;
        }
        return this.inProcess ? new ErrorBox(error) : this.record(error);
      });
    };
  }

  /** What a call returns: the value, or the cached error thrown again. */
  unwrap<T>(value: T): T {
    if (value instanceof ErrorBox) throw value.error;
    if (isRecord(value)) throw rebuild(value);
    return value;
  }

  /** Values a cacheIf, resultTags or ttl callback must not see. */
  static isError(value: unknown): boolean {
    return value instanceof ErrorBox || isRecord(value);
  }

  private record(error: unknown): ErrorRecord {
    const e = error instanceof Error ? error : new Error(String(error));
    const record: ErrorRecord = { [MARK]: 1, name: e.name, message: e.message };
    const code = (e as { code?: unknown }).code;
    if (code !== undefined && (typeof code === 'string' || typeof code === 'number')) record.code = code;
    if (e instanceof HttpException) {
      record.status = e.getStatus();
      record.response = e.getResponse();
    }
    return record;
  }
}
