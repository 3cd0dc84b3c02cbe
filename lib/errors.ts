/** Stable error codes: match on `error.code`, never on message text. */
export const CacheMemoizeErrorCode = {
  /** A module or decorator option is invalid (bad ttl, unknown store, bad prefix...). */
  InvalidOption: 'CACHE_MEMOIZE_INVALID_OPTION',
  /** A value passed at call time is invalid (an empty tag, a deadline that is not a date, ids that are not an array). */
  InvalidArgument: 'CACHE_MEMOIZE_INVALID_ARGUMENT',
  /** Arguments could not be turned into a key (cycle, function, symbol...). */
  UnkeyableArgument: 'CACHE_MEMOIZE_UNKEYABLE_ARGUMENT',
  /** Two different classes would write under the same namespace. */
  NamespaceConflict: 'CACHE_MEMOIZE_NAMESPACE_CONFLICT',
  /** invalidateMethod() named a class/method that is not memoized. */
  UnknownMethod: 'CACHE_MEMOIZE_UNKNOWN_METHOD',
  /** A named store does not exist. */
  UnknownStore: 'CACHE_MEMOIZE_UNKNOWN_STORE',
  /** A value could not be encoded by the serializer. */
  Serialization: 'CACHE_MEMOIZE_SERIALIZATION',
  /** A store operation failed, so an invalidation could not be applied. */
  StoreFailure: 'CACHE_MEMOIZE_STORE_FAILURE',
  /** A memoized method exceeded its hard timeout. */
  Timeout: 'CACHE_MEMOIZE_TIMEOUT',
  /** A method decorated with @CacheEvict completed but the cache could not be invalidated. */
  InvalidationFailed: 'CACHE_MEMOIZE_INVALIDATION_FAILED',
  /** A result cannot be stored without changing shape (an unregistered class instance): returned, not cached. */
  UncacheableValue: 'CACHE_MEMOIZE_UNCACHEABLE_VALUE',
  /** A @CacheMemoizeMany method returned a result that cannot be matched to the ids it was given. */
  BatchResult: 'CACHE_MEMOIZE_BATCH_RESULT',
  /** cacheContext() was called where no memoized computation is starting. */
  NoContext: 'CACHE_MEMOIZE_NO_CONTEXT',
} as const;

export type CacheMemoizeErrorCode = (typeof CacheMemoizeErrorCode)[keyof typeof CacheMemoizeErrorCode];

export class CacheMemoizeError extends Error {
  constructor(
    readonly code: CacheMemoizeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidOptionError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.InvalidOption, message);
  }
}

export class InvalidArgumentError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.InvalidArgument, message);
  }
}

export class UnkeyableArgumentError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.UnkeyableArgument, message);
  }
}

export class NamespaceConflictError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.NamespaceConflict, message);
  }
}

export class UnknownMethodError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.UnknownMethod, message);
  }
}

export class UnknownStoreError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.UnknownStore, message);
  }
}

export class SerializationError extends CacheMemoizeError {
  constructor(message: string, cause?: unknown) {
    super(CacheMemoizeErrorCode.Serialization, message, { cause });
  }
}

export class StoreFailureError extends CacheMemoizeError {
  /** The store's name in the module's `stores`. */
  readonly store: string | undefined;
  /** What could not be done: 'invalidate', 'set', 'deleteMany', 'clear', 'publish'... */
  readonly operation: string | undefined;
  constructor(message: string, cause?: unknown, fields: { store?: string; operation?: string } = {}) {
    super(CacheMemoizeErrorCode.StoreFailure, message, { cause });
    this.store = fields.store;
    this.operation = fields.operation;
  }
}

export class CacheMemoizeTimeoutError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.Timeout, message);
  }
}

/**
 * A value that would not come back as it went in (an instance of a class the codec does not know).
 * Never thrown to callers of memoized methods: the value is returned and not stored.
 */
export class UncacheableValueError extends CacheMemoizeError {
  constructor(
    message: string,
    /** Name of the offending class. */
    readonly className: string,
    /** Where it sits in the value, e.g. `result.items[2].price`. */
    readonly path: string,
  ) {
    super(CacheMemoizeErrorCode.UncacheableValue, message);
  }
}

/**
 * `@CacheEvict` / `@InvalidateTags`: the method's own work completed (its result is `result`),
 * but the cache could not be invalidated (`cause` says why). Other instances may serve the old
 * values until this instance's background retry succeeds; this one serves none of them.
 */
export class InvalidationFailedError extends CacheMemoizeError {
  constructor(
    message: string,
    /** 'ClassName.method' of the decorated method. */
    readonly owner: string,
    /** Whether the method ran (false with `before: true`: busting comes first and failed). */
    readonly completed: boolean,
    /** What the method returned (undefined when it did not run). */
    readonly result: unknown,
    cause: unknown,
  ) {
    super(CacheMemoizeErrorCode.InvalidationFailed, message, { cause });
  }
}

/**
 * A `@CacheMemoizeMany` method returned something that cannot be matched to the ids it was called
 * with (an array of another length, a Map where an array was declared...). Nothing from that
 * call is cached; every caller waiting for one of its ids gets this error.
 */
export class BatchResultError extends CacheMemoizeError {
  constructor(
    message: string,
    /** The ids the method was called with. */
    readonly ids: readonly unknown[],
  ) {
    super(CacheMemoizeErrorCode.BatchResult, message);
  }
}

/** `cacheContext()` outside the synchronous start of a memoized computation (see its doc). */
export class CacheContextError extends CacheMemoizeError {
  constructor(message: string) {
    super(CacheMemoizeErrorCode.NoContext, message);
  }
}

/**
 * An error a `cacheErrors` method threw, replayed from a shared store: `name`, `message` and `code`
 * are the original's (Nest's HttpException family comes back as its own class instead).
 */
export class CachedError extends Error {
  /** Always true: this error was served from the cache. */
  readonly cached = true;
  constructor(
    name: string,
    message: string,
    /** The original error's `code`, when it had a string or number one. */
    readonly code?: unknown,
    /** The original error's `statusCode` (400–599, as http-errors sets it): Nest answers with it. */
    readonly statusCode?: number,
    /** The original error's `expose` with that status (false: Nest sends the status text, not the message). */
    readonly expose?: boolean,
  ) {
    super(message);
    this.name = name;
  }

  /** The same as `statusCode` (http-errors sets both). */
  get status(): number | undefined {
    return this.statusCode;
  }
}
