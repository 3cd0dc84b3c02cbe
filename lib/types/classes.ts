/** A class whose instances may be stored and revived with their prototype. */
export type CacheableClass = abstract new (...args: never[]) => object;

/**
 * Classes given to the codec: an array (each stored under its `name`) or a record of explicit,
 * stable names (`{ 'billing.Money': Money }`) for classes whose names collide or are minified.
 */
export type ClassRegistryInput = readonly CacheableClass[] | Readonly<Record<string, CacheableClass>>;
