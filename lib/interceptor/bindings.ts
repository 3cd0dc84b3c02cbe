import type { ExecutionContext } from '@nestjs/common';
import type { CacheRequest } from '../types/request';

/**
 * Which of this library's interceptors bound to one handler does the caching. One handler can
 * have several: `@CacheMemoize` binds the plain interceptor, a global binding adds one, and a
 * subclass (`trackBy` keying by tenant, say) may be bound beside either. Nest runs them nested,
 * globals first; only one may key and answer, or a subclass's keys would be skipped by a plain
 * interceptor running outside it — one tenant served another's response.
 */

const INTERCEPTORS_METADATA = '__interceptors__';

/**
 * The interceptors Nest runs for this handler, outermost first: global ones (when known), the
 * controller's, the handler's.
 */
export function interceptorChain(context: ExecutionContext, globals: readonly unknown[] | undefined): unknown[] {
  const handler = context.getHandler();
  return [
    ...(globals ?? []),
    ...((Reflect.getMetadata(INTERCEPTORS_METADATA, context.getClass()) as unknown[] | undefined) ?? []),
    ...((Reflect.getMetadata(INTERCEPTORS_METADATA, handler) as unknown[] | undefined) ?? []),
  ].filter(
    (i) =>
      typeof i === 'function' ||
      (typeof i === 'object' && i !== null && typeof (i as { intercept?: unknown }).intercept === 'function'),
  );
}

/** A class bound as it is, or an instance's class. */
export function classOf(interceptor: unknown): Function | undefined {
  if (typeof interceptor === 'function') return interceptor;
  return (interceptor as { constructor?: Function } | null)?.constructor;
}

/**
 * The class whose instance caches the handler: the innermost subclass of `base` bound to it (the
 * most specific binding wins, as a handler's own options win over its controller's), else `base`.
 * The outermost instance of that class does the work; every other instance of ours passes the
 * request on untouched. `self` is the asking instance's class: not found in the chain (a global
 * binding while the globals are not known, a request-scoped one), it is taken as outermost.
 */
export function cachingClass(
  chain: readonly unknown[],
  self: Function,
  base: Function,
  isOurs: (interceptor: unknown) => boolean,
): Function {
  const ours = chain.filter(isOurs).map(classOf);
  if (!ours.includes(self)) ours.unshift(self);
  for (let i = ours.length - 1; i >= 0; i--) if (ours[i] !== base) return ours[i]!;
  return base;
}

const handled = new WeakSet<object>();

/**
 * Two instances of one class see the request (bound globally and on the route): the outer does
 * the work, the inner passes through. The outer marks the request before it lets it go on (a hit
 * never does). (A WeakSet rather than a property: adding keys to framework request objects slows
 * them.) GraphQL resolves many fields per request: the carrier there is the field's own `info`.
 */
export function alreadyHandled(request: CacheRequest): boolean {
  const carrier = carrierOf(request);
  return carrier !== undefined && handled.has(carrier);
}

export function markHandled(request: CacheRequest): void {
  const carrier = carrierOf(request);
  if (carrier !== undefined) handled.add(carrier);
}

function carrierOf(request: CacheRequest): object | undefined {
  const carrier = request.transport === 'graphql' ? request.context.getArgs()[3] : request.raw;
  return carrier !== null && typeof carrier === 'object' ? carrier : undefined;
}

/** An instance or subclass of `base` (the library's interceptor), as Nest lists a route's interceptors. */
export function ofFamily(base: Function, interceptor: unknown): boolean {
  return (
    interceptor instanceof base ||
    (typeof interceptor === 'function' && (interceptor === base || interceptor.prototype instanceof base))
  );
}

/** One of `base`'s family that does not override `intercept`: when it leaves a request to another of ours, it passes it on untouched. */
export function keepsIntercept(base: { prototype: { intercept: unknown } } & Function, interceptor: unknown): boolean {
  const of = (typeof interceptor === 'function' ? interceptor.prototype : interceptor) as { intercept?: unknown };
  return ofFamily(base, interceptor) && of.intercept === base.prototype.intercept;
}
