import type { ExecutionContext } from '@nestjs/common';

/** What the interceptor knows of a request; given to `vary` and `requestTags`. */
export interface CacheRequest {
  transport: 'http' | 'rpc' | 'graphql';
  /** HTTP: route parameters as received (strings). */
  params: Readonly<Record<string, unknown>>;
  /** HTTP: parsed query string. */
  query: Readonly<Record<string, unknown>>;
  /** HTTP: request headers (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** HTTP/GraphQL: `request.user`, as set by an auth guard (Passport), if any. */
  user?: unknown;
  /** RPC: the message pattern; GraphQL: 'Type.field'. */
  pattern?: unknown;
  /** RPC: the payload; GraphQL: the field arguments. */
  data?: unknown;
  /** The underlying request (Express, Fastify) or GraphQL context. */
  raw: unknown;
  context: ExecutionContext;
}
