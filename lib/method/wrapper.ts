/**
 * Makes `wrapped` stand in for `original`: same name, and the original's reflect-metadata
 * (route, pattern, resolver... set by other decorators) visible on it.
 */
export function inheritIdentity(original: Function, wrapped: Function): void {
  for (const key of Reflect.getMetadataKeys(original))
    Reflect.defineMetadata(key, Reflect.getMetadata(key, original), wrapped);
  Object.defineProperty(wrapped, 'name', { value: original.name });
}
