/**
 * An error stored as a method's result (`cacheErrors`) in a shared store. A class the default
 * codec knows under a reserved name, never plain data: a method returning `{ name, status }` from
 * user input can never be taken for a cached error (data cannot name a class into existence).
 */
export class CachedErrorRecord {
  name = 'Error';
  message = '';
  code?: string | number;
  /** Set for Nest's HttpException family. */
  status?: number;
  /** Another error's HTTP status (`statusCode`, as http-errors sets it): Nest answers with it. */
  httpStatus?: number;
  /** Its `expose` (http-errors: false for 5xx): Nest then hides the message. */
  expose?: boolean;
  /** The nearest of Nest's own exception classes it extends (a custom subclass comes back as that). */
  base?: string;
  response?: unknown;
}

/** The registry name of CachedErrorRecord: reserved (a user class cannot take it). */
export const CACHED_ERROR_RECORD = '~nestjs-cache-memoize.CachedError';
