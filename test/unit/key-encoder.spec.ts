import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { BehaviorSubject, Subject } from 'rxjs';
import { encodeArgs, encodeValue } from '../../lib/keys/key-encoder';
import {
  composeKey,
  keyBase,
  MAX_READABLE_KEY_LENGTH,
  namespaceSegments,
  tagKey,
  validateSegment,
} from '../../lib/keys/keys';
import { CacheMemoizeErrorCode, UnkeyableArgumentError } from '../../lib/errors';

const enc = (...args: unknown[]) => encodeArgs(args, 'Svc.m');

describe('encodeArgs: distinct argument lists never share a key', () => {
  const distinct: Array<[string, unknown[], unknown[]]> = [
    ['separators inside strings', ['a:b', 'c'], ['a', 'b:c']],
    ['commas inside strings', ['a,b'], ['a', 'b']],
    ['number vs string', [1], ['1']],
    ['null vs undefined', [null], [undefined]],
    ['undefined before an argument vs none', [undefined, 1], [1]],
    ['Date vs its ISO string', [new Date(0)], [new Date(0).toISOString()]],
    ['array vs joined string', [['x', 'y']], ['x,y']],
    ['nested array vs flat args', [['a', 'b']], ['a', 'b']],
    ['true vs "true"', [true], ['true']],
    ['0 vs -0', [0], [-0]],
    ['NaN vs "NaN"', [NaN], ['NaN']],
    ['bigint vs number', [1n], [1]],
    ['Map vs object', [new Map([['a', 1]])], [{ a: 1 }]],
    ['Set vs array', [new Set([1])], [[1]]],
    ['Buffer vs string', [Buffer.from('hi')], ['hi']],
    ['Buffer vs Uint8Array', [Buffer.from('hi')], [new Uint8Array(Buffer.from('hi'))]],
    ['{a: null} vs {}', [{ a: null }], [{}]],
    ['[undefined] vs []', [[undefined]], [[]]],
    // eslint-disable-next-line no-sparse-arrays
    ['a hole vs undefined', [[, 1]], [[undefined, 1]]],
    ['a trailing hole vs none', [new Array(2).fill(1, 0, 1)], [[1]]],
    ['[hole] vs []', [new Array(1)], [[]]],
    ['object vs its JSON', [{ a: 1 }], ['{"a":1}']],
    // Sequelize's operators are registered symbols: `{ age: { [Op.gt]: 18 } }` used to key as `{"age":{}}`.
    ['symbol-keyed operators', [{ age: { [Symbol.for('gt')]: 18 } }], [{ age: { [Symbol.for('lt')]: 18 } }]],
    ['symbol-keyed value', [{ [Symbol.for('gt')]: 1 }], [{ [Symbol.for('gt')]: 2 }]],
    ['symbol key vs no key', [{ q: 'x', [Symbol.for('tenant')]: 'acme' }], [{ q: 'x' }]],
    ['symbol key vs string key of the same name', [{ [Symbol.for('gt')]: 1 }], [{ gt: 1 }]],
    [
      'class instance vs plain object',
      [
        new (class Point {
          x = 1;
        })(),
      ],
      [{ x: 1 }],
    ],
    ['quotes in strings', ['a"', 'b'], ['a', '"b']],
    ['empty string vs none', [''], []],
    ['invalid date vs NaN', [new Date(NaN)], [NaN]],
  ];
  it.each(distinct)('%s', (_name, a, b) => {
    expect(enc(...a)).not.toBe(enc(...b));
  });

  it('an undefined property keys like an absent one, as in JSON (DTOs from optional query params)', () => {
    expect(enc({ role: 'member', active: undefined })).toBe(enc({ role: 'member' }));
    expect(enc({ a: undefined })).toBe(enc({}));
    expect(enc({ f: { x: 1, y: undefined } })).toBe(enc({ f: { x: 1 } }));
    // Top-level arguments stay distinct: undefined is not null.
    expect(enc(undefined)).not.toBe(enc(null));
  });

  it('trailing undefined arguments are not keyed: f(1) and f(1, undefined) are one call, as JS defaults treat them', () => {
    expect(enc(1, undefined)).toBe(enc(1));
    expect(enc('a', { b: 1 }, undefined, undefined)).toBe(enc('a', { b: 1 }));
    expect(enc(undefined)).toBe(enc());
    expect(enc(undefined, 1)).not.toBe(enc(1));
    expect(enc(1, undefined, 2)).not.toBe(enc(1, 2));
  });

  it('object key order does not matter', () => {
    expect(enc({ a: 1, b: 2 })).toBe(enc({ b: 2, a: 1 }));
    expect(enc({ x: { a: 1, b: [1, { d: 1, c: 2 }] } })).toBe(enc({ x: { b: [1, { c: 2, d: 1 }], a: 1 } }));
    expect(
      enc(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      ),
    ).toBe(
      enc(
        new Map([
          ['b', 2],
          ['a', 1],
        ]),
      ),
    );
    expect(enc(new Set([1, 2]))).toBe(enc(new Set([2, 1])));
  });

  it('is readable for simple arguments', () => {
    expect(enc(42)).toBe('42');
    expect(enc('abc')).toBe('"abc"');
    expect(enc(1, 'x', null, undefined, true)).toBe('1,"x",null,undefined,true');
    expect(enc(new Date(0))).toBe('Date(1970-01-01T00:00:00.000Z)');
    expect(enc({ b: 1, a: [1n] })).toBe('{"a":[1n],"b":1}');
  });

  it('uses cacheKey() and toJSON() of class instances', () => {
    class User {
      constructor(
        readonly id: number,
        readonly loadedAt = Math.random(),
      ) {}
      cacheKey() {
        return this.id;
      }
    }
    expect(enc(new User(1))).toBe(enc(new User(1)));
    expect(enc(new User(1))).not.toBe(enc(new User(2)));
    class Money {
      constructor(private readonly cents: number) {}
      toJSON() {
        return `${this.cents}c`;
      }
    }
    expect(enc(new Money(5))).toBe('Money("5c")');
  });

  it.each([
    ['a function', [() => 1], 'argument #0 is a function'],
    ['a symbol', [Symbol('s')], 'argument #0 is a symbol'],
    ['a nested function', [1, { cb: () => 1 }], 'argument #1.cb is a function'],
    ['a promise', [Promise.resolve(1)], 'is a Promise'],
    ['an opaque instance', [new (class Conn {})()], 'Conn instance with no enumerable properties'],
    // Live objects: what they deliver is not in their state (a client-streaming gRPC payload is one).
    ['an Observable', [{ q: new Subject<number>().asObservable() }], 'argument #0.q is a Observable'],
    ['a Subject', [new BehaviorSubject(1)], 'is a BehaviorSubject'],
    ['a thenable', [{ then: (ok: (v: number) => void) => ok(1), sql: 'select 1' }], 'has no stable value'],
    ['an interop observable', [{ '@@observable': () => null, id: 1 }], 'has no stable value'],
    ['a Node stream', [Readable.from(['a'])], 'is a Readable'],
    ['an EventEmitter', [Object.assign(new EventEmitter(), { id: 1 })], 'is a EventEmitter'],
    ['an AbortSignal', [new AbortController().signal], 'is a AbortSignal'],
    ['a web stream', [new ReadableStream()], 'is a ReadableStream'],
    ['a generator', [(function* () {})()], 'has no stable value'],
  ])('rejects %s with a clear error naming the method', (_n, args, message) => {
    let error: unknown;
    try {
      enc(...args);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnkeyableArgumentError);
    expect((error as UnkeyableArgumentError).code).toBe(CacheMemoizeErrorCode.UnkeyableArgument);
    expect((error as Error).message).toContain('Svc.m');
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain('key:');
  });

  it('rejects cycles but accepts shared references', () => {
    const shared = { a: 1 };
    expect(enc([shared, shared])).toBe('[{"a":1},{"a":1}]');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => enc(cyclic)).toThrow(/argument #0.self contains a circular reference/);
  });

  it('encodes the key option value with the same rules', () => {
    expect(encodeValue({ b: 1, a: 2 }, 'Svc.m')).toBe('{"a":2,"b":1}');
  });
});

describe('composeKey', () => {
  const base = keyBase('app', 'UserService.getUser', '0');

  it('is prefix:namespace:version:args', () => {
    expect(composeKey(base, enc(1))).toBe('app:UserService.getUser:0:1');
  });

  it('hashes long argument parts and ones with whitespace, control or non-ASCII bytes', () => {
    const long = composeKey(base, enc('x'.repeat(500)));
    expect(long.length).toBeLessThanOrEqual(MAX_READABLE_KEY_LENGTH);
    expect(long).toMatch(/^app:UserService\.getUser:0:#[A-Za-z0-9_-]{43}$/);
    for (const s of ['a b', 'é', '\u00a0']) {
      expect(composeKey(base, enc(s))).toMatch(/:#[A-Za-z0-9_-]{43}$/);
    }
    // Control bytes are escaped by the string quoting, so the key stays readable but safe.
    for (const s of ['tab\there', 'new\nline', '\u0000']) {
      expect(composeKey(base, enc(s))).toMatch(/^[\x21-\x7e]+$/);
    }
    expect(composeKey(base, enc('tab\there'))).not.toBe(composeKey(base, enc('tab\\there')));
    expect(composeKey(base, enc('a b'))).not.toBe(composeKey(base, enc('a  b')));
  });

  it('tag keys are safe and separate from entry keys', () => {
    expect(tagKey('app', 'user:1')).toBe('app:~tag:user:1');
    expect(tagKey('app', 'has space')).toMatch(/^app:~tag:#/);
  });

  it('splits namespaces into invalidatable segments', () => {
    expect(namespaceSegments('UserService.getUser')).toEqual(['UserService', 'UserService.getUser']);
    expect(namespaceSegments('users')).toEqual(['users']);
  });

  it('validates prefix, namespace and version', () => {
    expect(() => validateSegment('a b', 'prefix', 'forRoot()', 64)).toThrow(/forRoot\(\): prefix must be/);
    expect(() => validateSegment('a:b', 'namespace', 'X.y', 100)).toThrow(/without spaces or ':'/);
    expect(() => validateSegment('~x', 'namespace', 'X.y', 100)).toThrow(/must not start with '~'/);
    expect(validateSegment(2, 'version', 'X.y', 32)).toBe('2');
  });
});

describe('encodeArgs: symbol-keyed properties', () => {
  it('are keyed like string keys: order does not matter, undefined is absent', () => {
    const gt = Symbol.for('gt');
    const lt = Symbol.for('lt');
    expect(enc({ [gt]: 1, [lt]: 2, a: 0 })).toBe(enc({ a: 0, [lt]: 2, [gt]: 1 }));
    expect(enc({ a: 1, [gt]: undefined })).toBe(enc({ a: 1 }));
  });

  it('an unregistered symbol key makes the argument unkeyable (the call runs uncached), naming it', () => {
    const tenant = Symbol('tenant');
    expect(() => enc({ q: 'x', [tenant]: 'acme' })).toThrow(UnkeyableArgumentError);
    expect(() => enc({ q: 'x', [tenant]: 'acme' })).toThrow(
      /Svc\.m: argument #0\[Symbol\(tenant\)\] is keyed by a symbol that is not registered/,
    );
    // Not enumerable: not part of the value, as for string keys.
    const hidden = Object.defineProperty({ q: 'x' }, tenant, { value: 'acme', enumerable: false });
    expect(enc(hidden)).toBe(enc({ q: 'x' }));
  });
});

describe('encodeArgs: an argument too large to key is refused before it is walked', () => {
  // Before the budget, a sparse array of 2^32 - 1 items held the event loop ~28 s, then failed
  // with a bare RangeError; `new Array(1e7)` built a 100 MB key.
  it.each([
    ['a sparse array of 2^32 - 1 items', () => new Array(2 ** 32 - 1), 'argument #0'],
    ['ten million holes', () => new Array(10_000_000), 'argument #0'],
    ['a nested array of 5 M items', () => ({ ids: new Array(5 * 1024 * 1024) }), 'argument #0.ids'],
    ['64 MiB of bytes', () => Buffer.alloc(64 * 1024 * 1024), 'argument #0'],
  ])('%s', (_name, make, path) => {
    const arg = make();
    let error: unknown;
    try {
      enc(arg, 1);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UnkeyableArgumentError);
    expect(String(error)).toContain(
      `Cannot build a cache key for Svc.m: ${path} makes a key of more than 4194304 items, characters or bytes.`,
    );
  });

  it('a large argument within the budget is keyed as before', () => {
    const ids = Array.from({ length: 100_000 }, (_, i) => i);
    expect(enc(ids)).toBe(`[${ids.join(',')}]`);
    expect(enc('x'.repeat(1_000_000))).toBe(JSON.stringify('x'.repeat(1_000_000)));
  });
});
