import { isDeepStrictEqual } from 'node:util';
import { taggedJsonSerializer as codec } from '../../lib/serialization/tagged-json.serializer';
import { v8Serializer } from '../../lib/serialization/v8.serializer';
import { SerializationError } from '../../lib/errors';

const roundTrip = (v: unknown) => codec.decode(codec.encode(v));

describe('taggedJsonSerializer (default codec)', () => {
  const cases: Array<[string, unknown]> = [
    ['Date', new Date(1_700_000_000_123)],
    ['invalid Date', new Date(Number.NaN)],
    ['Map with non-string keys', new Map<unknown, unknown>([[1, 'a'], [{ k: 1 }, [2]], ['s', new Date(0)]])],
    ['Set', new Set([1, 'x', 2n])],
    ['BigInt', 2n ** 70n],
    ['negative BigInt', -5n],
    ['undefined', undefined],
    ['null', null],
    ['NaN, ±Infinity, -0', [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0]],
    ['Buffer', Buffer.from([0, 1, 2, 255])],
    ['Uint8Array', new Uint8Array([0, 1, 2, 255])],
    ['Float64Array', new Float64Array([1.5, -2])],
    ['BigInt64Array', new BigInt64Array([1n, -1n])],
    ['arrays with holes and undefined', [1, undefined, 'x']],
    ['nested', { a: { b: [new Map([['k', new Set([new Date(5)])]])], u: undefined, n: null }, s: 'ü€😀' }],
    ['an object with a "$t" key', { $t: 'D', v: 0 }],
    ['unicode strings', 'тест 漢字 😀'],
  ];

  it.each(cases)('round-trips %s exactly, with this realm\'s classes', (_name, value) => {
    const back = roundTrip(value);
    const bothInvalidDates = value instanceof Date && back instanceof Date && Number.isNaN(value.getTime()) && Number.isNaN(back.getTime());
    expect(isDeepStrictEqual(back, value) || bothInvalidDates).toBe(true);
    if (value instanceof Date) expect(back).toBeInstanceOf(Date);
    if (value instanceof Map) expect(back).toBeInstanceOf(Map);
    if (Buffer.isBuffer(value)) expect(Buffer.isBuffer(back)).toBe(true);
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) expect(Buffer.isBuffer(back)).toBe(false);
  });

  it('keeps -0 and undefined object members', () => {
    const back = roundTrip({ z: -0, u: undefined }) as { z: number; u?: unknown };
    expect(Object.is(back.z, -0)).toBe(true);
    expect('u' in back).toBe(true);
  });

  it('stores class instances as their data (toJSON when they have one)', () => {
    class Point {
      constructor(readonly x: number, readonly y: number) {}
    }
    class Money {
      toJSON() {
        return '5.00 EUR';
      }
    }
    expect(roundTrip({ p: new Point(1, 2), m: new Money() })).toEqual({ p: { x: 1, y: 2 }, m: '5.00 EUR' });
  });

  it('never sets a prototype from data, planted or decoded', () => {
    const planted = Buffer.from('T{"__proto__":{"polluted":true},"d":{"$t":"D","v":0}}');
    const out = codec.decode(planted) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect((out as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.keys(out)).toEqual(['__proto__', 'd']);
    const own = JSON.parse('{"__proto__":{"x":1},"y":new Date(0)}'.replace('new Date(0)', '1'));
    const back = roundTrip({ ...own, d: new Date(0) }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('rejects garbage with an error (the memoizer counts it as a miss)', () => {
    for (const bytes of ['garbage', 'T{not json', 'T{"$t":"?"}', '']) {
      expect(() => codec.decode(Buffer.from(bytes))).toThrow();
    }
  });

  it('refuses functions, symbols and cycles with a SerializationError', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [() => 1, Symbol('s'), cyclic, { f: () => 1 }]) {
      expect(() => codec.encode(bad)).toThrow(SerializationError);
    }
  });

  it('the v8 codec also round-trips exactly (an alternative, across one realm)', () => {
    const value = { m: new Map([[1, 2n]]), b: Buffer.from('x') };
    expect(v8Serializer.decode(v8Serializer.encode(value))).toEqual(value);
  });
});
