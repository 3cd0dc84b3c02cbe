import type { CacheRequest } from '../types/request';

/*
 * GraphQL over a WebSocket (graphql-ws, which Nest wires with `subscriptions: { 'graphql-ws': true }`)
 * runs queries too. There Nest's context wrapper sets `context.req` to graphql-ws's own context
 * ({ connectionParams, extra: { request, socket } }): no `headers`. The credentials are in the
 * connection params and in the upgrade request (its Cookie, Authorization, or a token in its URL,
 * as browsers cannot set WebSocket headers). Read here, so a per-user answer is never shared.
 */

type Headers = Record<string, string | string[] | undefined>;

/** What the cache knows of a GraphQL request whose `req` is not an HTTP request. */
export interface SocketRequest {
  headers: Headers;
  host: string | undefined;
  route: string | undefined;
  user: unknown;
}

interface UpgradeRequestLike {
  headers?: Headers;
  url?: unknown;
}
interface SocketContextLike {
  connectionParams?: unknown;
  extra?: { request?: UpgradeRequestLike; user?: unknown };
  user?: unknown;
}

/**
 * Credentials the cache found but could not name as headers, and whether it could not see how
 * the request is authenticated at all: set by `describeRequest`, read by `identify`.
 */
interface Unseen {
  /** Header names (lower-case) in `headers` that are credentials whatever they are called (connection params). */
  credentials: readonly string[];
  /** The request may be authenticated in a way the cache cannot see: it is private. */
  opaque: boolean;
}
const unseen = new WeakMap<CacheRequest, Unseen>();

export function unseenCredentials(request: CacheRequest): Unseen | undefined {
  return unseen.get(request);
}

export function markUnseen(request: CacheRequest, of: Unseen): CacheRequest {
  if (of.credentials.length > 0 || of.opaque) unseen.set(request, of);
  return request;
}

/**
 * A GraphQL context's `req` that is no HTTP request: graphql-ws's context, or something unknown.
 * Every connection param counts as a credential (a `token`, an `authToken`: the cache cannot tell
 * which are), under its lower-case name; a query string on the upgrade URL, or a context the cache
 * does not recognize, makes the request private.
 */
export function socketRequest(req: unknown): SocketRequest & Unseen {
  const ws = (typeof req === 'object' && req !== null ? req : {}) as SocketContextLike;
  const upgrade = ws.extra?.request;
  const headers: Headers = {};
  let opaque = typeof upgrade?.headers !== 'object' || upgrade.headers === null;
  if (!opaque) for (const [k, v] of Object.entries(upgrade!.headers!)) headers[k.toLowerCase()] = v;
  const url = typeof upgrade?.url === 'string' ? upgrade.url : undefined;
  if (url?.includes('?')) opaque = true;
  const credentials: string[] = [];
  const params = ws.connectionParams;
  if (params !== undefined && params !== null) {
    if (typeof params !== 'object') opaque = true;
    else {
      for (const [k, v] of Object.entries(params as Record<string, unknown>)) {
        const text = paramText(v);
        if (text === undefined) continue;
        if (text === null) {
          opaque = true;
          continue;
        }
        const name = k.toLowerCase();
        const before = headers[name];
        // Both the upgrade request and the params carry it: both are the identity.
        headers[name] = before === undefined ? text : [...(Array.isArray(before) ? before : [before]), text];
        credentials.push(name);
      }
    }
  }
  const host = headers.host;
  return {
    headers,
    host: typeof host === 'string' ? host.replace(/:\d+$/, '') : undefined,
    route: url?.split('?')[0],
    user: ws.user ?? ws.extra?.user,
    credentials,
    opaque,
  };
}

/** A connection param as header text; undefined when empty, null when it cannot be spelled. */
function paramText(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}
