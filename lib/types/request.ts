import type { ExecutionContext } from '@nestjs/common';

/** What the interceptor knows of a request; given to `vary`, `skip` and `requestTags`. */
export interface CacheRequest {
  transport: 'http' | 'rpc' | 'graphql';
  /** HTTP: route parameters as received (strings). */
  params: Readonly<Record<string, unknown>>;
  /** HTTP: parsed query string. */
  query: Readonly<Record<string, unknown>>;
  /** HTTP and GraphQL: request headers (lower-case names); RPC: transport metadata where it has any. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** HTTP: the host name as the adapter reports it (X-Forwarded-Host only when the app trusts proxies). */
  host?: string;
  /** HTTP: the matched route pattern, e.g. '/v1/users/:id'. */
  route?: string;
  /** `request.user`, as set by an auth guard (Passport) before the interceptor runs, if any. */
  user?: unknown;
  /** RPC: the message pattern; GraphQL: 'Type.field'. */
  pattern?: unknown;
  /** RPC: the payload; GraphQL: the field arguments. */
  data?: unknown;
  /** GraphQL: the parent object of a field resolver (undefined for root fields). */
  parent?: unknown;
  /** The underlying request (Express, Fastify), RPC context or GraphQL context. */
  raw: unknown;
  context: ExecutionContext;
}

/** The part of Nest's HTTP adapter the interceptor uses (Express and Fastify adapters have it). */
export interface HttpAdapterLike {
  getRequestHostname?(request: unknown): string | undefined;
  setHeader(response: unknown, name: string, value: string): unknown;
  status(response: unknown, statusCode: number): unknown;
  /** 'express', 'fastify'... */
  getType?(): string;
}

/** The adapter, once the app has one (injected under CACHE_HTTP_ADAPTER). */
export interface HttpAdapterRef {
  readonly adapter: HttpAdapterLike | undefined;
  /**
   * The app's global interceptors, in the order Nest runs them (outermost first); undefined when
   * they cannot be known. A request-scoped one counts as an unknown interceptor.
   */
  readonly globalInterceptors?: readonly unknown[] | undefined;
}
