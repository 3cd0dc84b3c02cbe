import { MemoryStore, memoryStore } from '../../lib/stores/memory.store';
import { InvalidOptionError } from '../../lib/errors';

const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('memoryStore', () => {
  afterEach(() => jest.useRealTimers());

  it('evicts the least recently used entry beyond maxEntries', () => {
    const store = memoryStore({ maxEntries: 3 });
    store.put('a', 1, 60_000);
    store.put('b', 2, 60_000);
    store.put('c', 3, 60_000);
    expect(store.peek('a')).toBe(1); // a is now recently used
    store.put('d', 4, 60_000);
    expect(store.peek('b')).toBeUndefined();
    expect([store.peek('a'), store.peek('c'), store.peek('d')]).toEqual([1, 3, 4]);
    expect(store.size).toBe(3);
    store.put('e', 5, 60_000); // used in the order a, c, d: a goes
    expect(store.size).toBe(3);
    expect([store.peek('a'), store.peek('c'), store.peek('d'), store.peek('e')]).toEqual([undefined, 3, 4, 5]);
  });

  it('is bounded by bytes', async () => {
    const store = memoryStore({ maxEntries: 1000, maxBytes: 1000 });
    for (let i = 0; i < 20; i++) await store.set(`k${i}`, new Uint8Array(200), 60_000);
    expect(store.byteSize).toBeLessThanOrEqual(1000);
    expect(store.size).toBeLessThan(5);
    expect(await store.get('k19')).toHaveLength(200);
    expect(await store.get('k0')).toBeUndefined();
    await store.set('huge', new Uint8Array(5000), 60_000); // larger than the store: not kept
    expect(await store.get('huge')).toBeUndefined();
    expect(await store.get('k19')).toHaveLength(200);
  });

  it('bounds object values by an estimate of their size', () => {
    const store = memoryStore({ maxBytes: 10_000 });
    for (let i = 0; i < 50; i++) store.put(`k${i}`, { text: 'x'.repeat(1000) }, 60_000);
    expect(store.byteSize).toBeLessThanOrEqual(10_000);
    expect(store.size).toBeLessThan(10);
  });

  it('drops expired entries', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const store = memoryStore();
    await store.set('k', bytes('v'), 1000);
    expect(await store.get('k')).toEqual(bytes('v'));
    jest.setSystemTime(1_000_999);
    expect(await store.get('k')).toEqual(bytes('v'));
    jest.setSystemTime(1_001_000);
    expect(await store.get('k')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('implements add, delete, getMany, deleteMany and clear(prefix)', async () => {
    const store = new MemoryStore();
    expect(await store.add('a', bytes('1'), 1000)).toBe(true);
    expect(await store.add('a', bytes('2'), 1000)).toBe(false);
    expect(await store.get('a')).toEqual(bytes('1'));
    await store.set('p:x', bytes('x'), 1000);
    await store.set('p:y', bytes('y'), 1000);
    await store.set('q:z', bytes('z'), 1000);
    expect(await store.getMany(['p:x', 'nope', 'q:z'])).toEqual([bytes('x'), undefined, bytes('z')]);
    expect(await store.deleteMany(['a', 'nope'])).toBe(1);
    expect(await store.delete('a')).toBe(false);
    await store.clear('p:');
    expect(await store.getMany(['p:x', 'p:y', 'q:z'])).toEqual([undefined, undefined, bytes('z')]);
  });

  it('rejects bad bounds', () => {
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(InvalidOptionError);
    expect(() => memoryStore({ maxBytes: -1 })).toThrow(/maxBytes must be a positive integer/);
  });
});
