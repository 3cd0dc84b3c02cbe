import { BatchResultError } from '../errors';

/** What a batch method returns: an array aligned with its ids, a Map by id, or a record by String(id). */
export type BatchShape = 'array' | 'map' | 'record';

/** A short list of ids for messages: the first ten, then how many more. */
export function describeIds(ids: readonly unknown[]): string {
  const shown = ids
    .slice(0, 10)
    .map((id) => (typeof id === 'string' ? JSON.stringify(id) : Object.is(id, -0) ? '-0' : String(id)));
  return `[${shown.join(', ')}${ids.length > 10 ? `, ... ${ids.length - 10} more` : ''}]`;
}

const calledWith = (owner: string, ids: readonly unknown[]) =>
  `${owner} was called with ${ids.length} id${ids.length === 1 ? '' : 's'} ${describeIds(ids)}`;

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Map) return `a Map of ${value.size}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'no prototype'})`;
  return typeof value;
}

/** Each method call (one per `maxBatch` ids) stores its own items: only this one's are lost. */
const NOT_CACHED = 'None of these ids was cached by this call.';

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Map) return false;
  const proto = Object.getPrototypeOf(value) as object | null;
  return proto === Object.prototype || proto === null;
}

/** NaN twice is one id (NaN !== NaN), as it is one key. */
const sameId = (a: unknown, b: unknown): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

/**
 * Two ids a record names alike (1 and '1', two objects), so it cannot say which item is whose;
 * the same number twice (0 and -0) is one entry. Checked on every call, whatever is cached.
 */
export function recordClash(ids: readonly unknown[], owner: string): BatchResultError | undefined {
  const firstOf = new Map<string, unknown>();
  for (const id of ids) {
    const name = String(id);
    if (!firstOf.has(name)) firstOf.set(name, id);
    else if (!sameId(firstOf.get(name), id))
      return new BatchResultError(
        `${calledWith(owner, ids)}: two of them are ${JSON.stringify(name)} as record keys, ` +
          `so a record cannot say which item is whose; use result: 'map' (keyed by the ids themselves) or ids of one type.`,
        ids,
      );
  }
  return undefined;
}

/**
 * The items of a method's result for the ids it was called with, in their order. A result that
 * cannot be matched to its ids throws, so none of that method call's items is cached (with
 * `maxBatch`, other calls' items are). With `cacheMissing`
 * off, an id a Map or record leaves out is undefined (the policy does not store undefined).
 */
export function itemsOf(
  result: unknown,
  ids: readonly unknown[],
  shape: BatchShape,
  owner: string,
  /** An id's item key (result: 'map' matches equal object ids by it). */
  keyOf: (id: unknown) => string,
): unknown[] {
  const called = calledWith(owner, ids);
  if (shape === 'array') {
    if (Array.isArray(result) && result.length === ids.length) return result as unknown[];
    const hint = Array.isArray(result)
      ? 'an array result must have exactly one item per id, in the order given (null for an id not found)'
      : `declare result: '${result instanceof Map ? 'map' : 'record'}' on @CacheMemoizeMany if it returns items by id`;
    throw new BatchResultError(`${called} and returned ${describeValue(result)}: ${hint}. ${NOT_CACHED}`, ids);
  }
  if (shape === 'map') {
    if (result instanceof Map) {
      const items = mapItems(result as Map<unknown, unknown>, ids, keyOf);
      const clash = typeClash(result as Map<unknown, unknown>, ids, items);
      if (clash !== undefined)
        throw new BatchResultError(
          `${called} and returned a Map keyed by ${clash.key} where the id is ${clash.id}: a Map matches keys by type, ` +
            `so every such id would be cached as missing. Key the Map by the ids as given (e.g. ` +
            `new Map(rows.map((r) => [Number(r.id), r])) when rows carry string or bigint ids). ${NOT_CACHED}`,
          ids,
        );
      return items;
    }
    throw new BatchResultError(
      `${called} and returned ${describeValue(result)}, not the Map its result: 'map' option declares. ${NOT_CACHED}`,
      ids,
    );
  }
  // Ids of one String() never get here: every call refuses them first (recordClash).
  if (isRecord(result)) {
    return ids.map(String).map((name) => (Object.hasOwn(result, name) ? result[name] : undefined));
  }
  throw new BatchResultError(
    `${called} and returned ${describeValue(result)}, not the plain object its result: 'record' option declares. ${NOT_CACHED}`,
    ids,
  );
}

/**
 * A Map's item for each id: by identity, else — an object id the method keyed by an equal object
 * of its own (`new Map(rows.map((r) => [{ org: r.org, id: r.id }, r]))`) — by the item key both
 * give (the `key` option's, when there is one). A Map key that cannot be keyed matches no id.
 */
function mapItems(result: Map<unknown, unknown>, ids: readonly unknown[], keyOf: (id: unknown) => string): unknown[] {
  let byKey: Map<string, unknown> | undefined;
  const tryKey = (id: unknown): string | undefined => {
    try {
      return keyOf(id);
    } catch {
      return undefined;
    }
  };
  return ids.map((id) => {
    if (typeof id !== 'object' || id === null || result.has(id)) return result.get(id);
    if (byKey === undefined) {
      byKey = new Map();
      for (const [k, v] of result) {
        const key = typeof k === 'object' && k !== null ? tryKey(k) : undefined;
        if (key !== undefined) byKey.set(key, v);
      }
    }
    const key = tryKey(id);
    return key === undefined ? undefined : byKey.get(key);
  });
}

/**
 * An id the Map left out while holding a key of another type that reads the same ('1' for 1, 1n
 * for 1: a driver's string or bigint ids). Found by a new user: both users were cached as missing
 * for the ttl, silently.
 */
function typeClash(
  result: Map<unknown, unknown>,
  ids: readonly unknown[],
  items: readonly unknown[],
): { key: string; id: string } | undefined {
  let spelled: Map<string, unknown> | undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (items[i] !== undefined || result.has(id) || (typeof id === 'object' && id !== null)) continue;
    if (spelled === undefined) {
      spelled = new Map();
      for (const k of result.keys())
        if (typeof k !== 'object' || k === null) spelled.set(`${typeof k}:${String(k)}`, k);
    }
    for (const type of ['string', 'number', 'bigint']) {
      if (type === typeof id) continue;
      const k = spelled.get(`${type}:${String(id)}`);
      // Ids of both types asked on purpose ([1, '1']): that key is another id's item.
      if (k !== undefined && !ids.includes(k)) return { key: describeKey(k), id: describeKey(id) };
    }
  }
  return undefined;
}

function describeKey(value: unknown): string {
  return typeof value === 'string'
    ? `the string '${value}'`
    : `the ${typeof value} ${String(value)}${typeof value === 'bigint' ? 'n' : ''}`;
}

/** The caller's result: every id of its list (duplicates included) in the method's own shape. */
export function shapeResult(
  shape: BatchShape,
  ids: readonly unknown[],
  positions: readonly number[],
  values: readonly unknown[],
): unknown {
  if (shape === 'array') return positions.map((p) => values[p]);
  if (shape === 'map') {
    const map = new Map<unknown, unknown>();
    ids.forEach((id, i) => {
      if (values[positions[i]] !== undefined) map.set(id, values[positions[i]]);
    });
    return map;
  }
  const record: Record<string, unknown> = {};
  ids.forEach((id, i) => {
    // defineProperty: an id '__proto__' is an own key, never the record's prototype.
    if (values[positions[i]] !== undefined)
      Object.defineProperty(record, String(id), {
        value: values[positions[i]],
        enumerable: true,
        writable: true,
        configurable: true,
      });
  });
  return record;
}
