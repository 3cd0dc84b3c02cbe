/** Metadata Nest's own decorators put on a handler method (kept as strings: no import of @nestjs/graphql). */
const RESOLVE_FIELD_METADATA = 'graphql:resolve_property';

/** A GraphQL query, mutation, subscription or field resolver. */
export function isGraphqlHandler(fn: Function): boolean {
  return (
    Reflect.getMetadata('graphql:resolver_type', fn) !== undefined ||
    Reflect.getMetadata(RESOLVE_FIELD_METADATA, fn) === true
  );
}

/** A GraphQL field resolver (`@ResolveField`). */
export function isFieldResolver(fn: Function): boolean {
  return Reflect.getMetadata(RESOLVE_FIELD_METADATA, fn) === true;
}

/** An HTTP route or a microservice message/event handler. */
export function isRouteHandler(fn: Function): boolean {
  return (
    Reflect.getMetadata('path', fn) !== undefined || Reflect.getMetadata('microservices:pattern', fn) !== undefined
  );
}
