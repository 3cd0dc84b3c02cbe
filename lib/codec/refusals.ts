import { SerializationError, UncacheableValueError } from '../errors';
import { nativeAncestor, type ClassRegistry } from './class-registry';
import { MAX_ENCODED_BYTES } from './tagged-format';

/**
 * Why the encoder refuses a value (`where` is its path, e.g. `result.items[2]`). Every refusal is
 * reported, never thrown to a caller: the value is returned and not stored (`uncacheable`).
 */

/**
 * A plain object with enumerable symbol-keyed properties: JSON has no symbol keys, and it would
 * come back without them. Refused rather than spelled (even `Symbol.for` ones): decoding never
 * creates a symbol key, so a planted entry cannot add one that a library treats as a hook.
 */
export function checkSymbolKeys(value: object, where: string): void {
  const keyed = Object.getOwnPropertySymbols(value).filter((s) => Object.prototype.propertyIsEnumerable.call(value, s));
  if (keyed.length === 0) return;
  throw new UncacheableValueError(
    `${where} has symbol-keyed properties (${keyed.map(String).join(', ')}), which a shared store cannot keep: ` +
      `it would come back without them. Return them under string keys, or cache this method in the memory store.`,
    'Object',
    where,
  );
}

export function namedItems(value: unknown[], where: string): UncacheableValueError {
  const named = Object.keys(value).filter((k) => String(Number(k) >>> 0) !== k);
  return new UncacheableValueError(
    `${where} is an array with named properties besides its items (${named.slice(0, 3).join(', ')}), which a shared ` +
      `store cannot keep: it would come back without them. Return an object such as { items, ${named[0] ?? 'total'} }, ` +
      `or cache this method in the memory store.`,
    'Array',
    where,
  );
}

export function unregistered(value: object, where: string, registry: ClassRegistry): UncacheableValueError {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  const className = typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : 'an anonymous class';
  const proto = Object.getPrototypeOf(value) as object;
  // A subclass of a registered class, or a registered class's twin (a package installed twice, a
  // class declared in a function): "register User" would be the wrong advice, as User is registered.
  const parent = registeredAncestor(proto, registry);
  if (parent !== undefined) {
    const own = ownClassName(proto);
    const parentId = ownClassName(parent.proto) ?? parent.name;
    const registered = entryFor(parent.name, parentId);
    return new UncacheableValueError(
      `${where} is ${own === undefined ? 'an object' : `an instance of ${own}`}, which derives from the registered ` +
        `${parent.name} but is not registered itself: it would come back as a ${parentId}. ` +
        (own === undefined
          ? `Return an instance of the registered class, or register its class under a name, e.g. classes: { ${registered}, 'Named': TheClass }.`
          : own === parentId // a namesake subclass (from another module): two classes cannot share one name
            ? `Register it under a name of its own: classes: { ${registered}, 'other.${own}': ${own} } (the subclass).`
            : `Register it too: classes: ${listOf([registered, own])}.`),
      own ?? className,
      where,
    );
  }
  const namesake = registry.prototypeOf(className);
  if (namesake !== undefined && namesake !== proto)
    return new UncacheableValueError(
      `${where} is an instance of a class named ${className} that is not the ${className} registered in classes: ` +
        `another class of the same name (the module that declares it loaded twice, e.g. a package installed in two ` +
        `versions, or a class declared inside a function). Return instances of the registered class, or register ` +
        `this one under a name of its own, e.g. classes: { 'other.${className}': ${className} }.`,
      className,
      where,
    );
  const native = nativeAncestor(Object.getPrototypeOf(value) as object);
  if (native !== undefined)
    return new UncacheableValueError(
      `${where} is ${native.name === className ? `a ${className}` : `an instance of ${className}, which extends ${native.name}`}, ` +
        `whose state lives outside its fields: a shared store cannot keep it. Return plain data (e.g. a URL's href) or cache this method in the memory store.`,
      className,
      where,
    );
  return new UncacheableValueError(
    `${where} is an instance of ${className}, which the codec does not know: it would come back as a plain object ` +
      `without its prototype (methods, class-transformer metadata). Register it with CacheMemoizeModule.forRoot({ classes: [${className}] }) ` +
      `or return plain data.`,
    className,
    where,
  );
}

export function hiddenState(value: object, own: Array<string | symbol>, where: string): UncacheableValueError {
  const className = (value as { constructor: { name: string } }).constructor.name;
  const hidden = own
    .filter((k) => typeof k === 'symbol' || !Object.prototype.propertyIsEnumerable.call(value, k))
    .map(String);
  return new UncacheableValueError(
    `${where} is a ${className} with state in symbol-keyed or non-enumerable properties (${hidden.join(', ')}), ` +
      `which would not come back. Keep a registered class's state in ordinary fields.`,
    className,
    where,
  );
}

export function tooLarge(where: string): SerializationError {
  return new SerializationError(
    `value encodes to more than ${MAX_ENCODED_BYTES / 1024 / 1024} MiB (at ${where}); ` +
      `sub-objects referenced from several places are written once per reference`,
  );
}

export function tooRepetitive(repeats: number, where: string): SerializationError {
  return new SerializationError(
    `value's shared sub-objects expand past ${repeats} repeated objects when encoded (at ${where}): ` +
      `JSON writes a sub-object referenced from several places once per reference`,
  );
}

function registeredAncestor(proto: object, registry: ClassRegistry): { name: string; proto: object } | undefined {
  for (
    let p = Object.getPrototypeOf(proto) as object | null;
    p !== null;
    p = Object.getPrototypeOf(p) as object | null
  ) {
    const name = registry.nameOf(p);
    if (name !== undefined && !name.startsWith('~')) return { name, proto: p }; // '~': the library's own, not the app's
  }
  return undefined;
}

/** The name of the class whose prototype this is (its own `constructor`), if it has one. */
function ownClassName(proto: object): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(proto, 'constructor')) return undefined;
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** How a class is written in `classes`: `User`, or `'billing.User': User` when registered under another name. */
function entryFor(registeredName: string, identifier: string): string {
  return registeredName === identifier ? identifier : `'${registeredName}': ${identifier}`;
}

function listOf(entries: string[]): string {
  return entries.some((e) => e.includes(':')) ? `{ ${entries.join(', ')} }` : `[${entries.join(', ')}]`;
}
