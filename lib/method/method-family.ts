import type { MethodRegistry } from './method-registry';
import type { ResolvedMany } from './resolved-many';
import type { ResolvedMethod } from './resolved-method';

/*
 * A class named in an invalidation (`invalidateMethod(Repo, 'find', ...)`, `evictCall`,
 * `@CachePut`) is often not the class of the instance whose calls wrote the entries: with
 * `{ provide: Repo, useClass: SqlRepo }` the method is keyed under SqlRepo's namespace.
 */

type Resolved = ResolvedMethod | ResolvedMany;

const subclassesOf = (registry: MethodRegistry, cls: Function, name: string): Function[] =>
  registry.classesWith(name).filter((c) => c !== cls && c.prototype instanceof cls);

/**
 * The method a call reads: the given instance's class; else, when `cls` itself has no registered
 * method of that name and exactly one registered subclass has, that subclass's; else `cls`'s.
 */
export function targetOf(registry: MethodRegistry, cls: Function, name: string, instance?: unknown): Resolved {
  if (typeof instance === 'object' && instance !== null) return registry.resolve(instance.constructor, name);
  if (!registry.classesWith(name).includes(cls)) {
    const subs = subclassesOf(registry, cls, name);
    if (subs.length === 1) return registry.resolve(subs[0], name);
  }
  return registry.resolve(cls, name);
}

/** Every method whose entries a call of `cls.name` may have written: `cls`'s and its registered subclasses'. */
export function familyOf(registry: MethodRegistry, cls: Function, name: string, instance?: unknown): Resolved[] {
  if (typeof instance === 'object' && instance !== null) return [targetOf(registry, cls, name, instance)];
  const subs = subclassesOf(registry, cls, name).map((c) => registry.resolve(c, name));
  // Resolving `cls` registers it: only when it is registered already, or nothing else is.
  if (subs.length > 0 && !registry.classesWith(name).includes(cls)) return subs;
  return [registry.resolve(cls, name), ...subs];
}

/** Whether `cls.name` or a registered subclass's is memoized here (without registering anything). */
export function isFamilyRegistered(registry: MethodRegistry, cls: Function, name: string): boolean {
  return registry.classesWith(name).includes(cls) || subclassesOf(registry, cls, name).length > 0;
}
