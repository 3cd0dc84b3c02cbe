import { memoryStore, type MemoryStore } from '../../lib/stores/memory.store';

/**
 * The memory store indexes keys per key space (a method's key base) so a hit hashes only the
 * arguments. Whatever route a key takes — whole (find, put, remove, clear) or split (findIn) —
 * it must name the one entry: these tests try to make two routes disagree.
 */
describe('memoryStore key spaces', () => {
  const meta = {};
  const put = (s: MemoryStore, key: string, value: unknown) => s.putEntry(key, value, meta, 1, 1e15, 1e15, 60_000, 0);
  const viaSpace = (s: MemoryStore, space: string, rest: string) => {
    const row = s.findIn(space, rest, 1);
    return row < 0 ? undefined : s.valueAt(row);
  };
  const whole = (s: MemoryStore, key: string) => {
    const row = s.find(key, 1);
    return row < 0 ? undefined : s.valueAt(row);
  };

  it('a key stored whole before its space was first used is found through the space, once', () => {
    const s = memoryStore();
    put(s, 'app:Users.get:1:7', 'seven');
    put(s, 'app:Users.getAll:1:7', 'other method');
    expect(viaSpace(s, 'app:Users.get:1:', '7')).toBe('seven'); // registers the space, moves the key
    expect(whole(s, 'app:Users.get:1:7')).toBe('seven');
    expect(viaSpace(s, 'app:Users.getAll:1:', '7')).toBe('other method');
    put(s, 'app:Users.get:1:7', 'replaced');
    expect([viaSpace(s, 'app:Users.get:1:', '7'), s.size]).toEqual(['replaced', 2]);
    expect(s.remove('app:Users.get:1:7')).toBe(true);
    expect([viaSpace(s, 'app:Users.get:1:', '7'), whole(s, 'app:Users.get:1:7'), s.size]).toEqual([
      undefined,
      undefined,
      1,
    ]);
  });

  it('spaces that start one another (prefixes "p" and "p:A:1") still name one entry per key', () => {
    const s = memoryStore();
    expect(viaSpace(s, 'p:A:1:', 'x:5')).toBeUndefined();
    put(s, 'p:A:1:x:5', 'in the short space');
    expect(viaSpace(s, 'p:A:1:x:', '5')).toBe('in the short space'); // the longer space takes it over
    expect(viaSpace(s, 'p:A:1:', 'x:5')).toBe('in the short space');
    put(s, 'p:A:1:x:5', 'again');
    expect([viaSpace(s, 'p:A:1:', 'x:5'), viaSpace(s, 'p:A:1:x:', '5'), s.size]).toEqual(['again', 'again', 1]);
    expect(s.remove('p:A:1:x:5')).toBe(true);
    expect([viaSpace(s, 'p:A:1:', 'x:5'), viaSpace(s, 'p:A:1:x:', '5'), s.size]).toEqual([undefined, undefined, 0]);
  });

  it('clear(prefix) inside, across and above spaces', async () => {
    const s = memoryStore();
    for (const space of ['a:M.f:1:', 'a:M.g:1:', 'b:M.f:1:']) {
      viaSpace(s, space, '0');
      for (const rest of ['1', '"x"', '12']) put(s, space + rest, space + rest);
    }
    put(s, 'a:loose', 'loose');
    await s.clear('a:M.f:1:1'); // inside a space: its keys starting '1'
    expect([whole(s, 'a:M.f:1:1'), whole(s, 'a:M.f:1:12'), whole(s, 'a:M.f:1:"x"')]).toEqual([
      undefined,
      undefined,
      'a:M.f:1:"x"',
    ]);
    await s.clear('a:M.'); // above two spaces
    expect([whole(s, 'a:M.f:1:"x"'), whole(s, 'a:M.g:1:1'), whole(s, 'a:loose'), whole(s, 'b:M.f:1:1')]).toEqual([
      undefined,
      undefined,
      'loose',
      'b:M.f:1:1',
    ]);
    expect(s.size).toBe(4);
  });

  it.each([
    ['disjoint spaces', ['p:S.a:1:', 'p:S.b:1:', 'q:S.a:1:', 'q:S.a:2:']],
    ['spaces that start one another', ['p:', 'p:S.a:1:', 'p:S.b:1:', 'q:S.a:1:', 'p:S.a:1:x']],
  ])(
    '%s: matches a model under random puts, reads, removes, clears and evictions through both routes',
    async (_, spaces) => {
      const rests = ['1', '2', '10', '"k"', 'x1', 'x:2', ''];
      let seed = 12345;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let round = 0; round < 300; round++) {
        const s = memoryStore({ maxEntries: 8 });
        // The store's own rules: a read moves an entry to the young end once it drifted into the older half.
        const model = new Map<string, { value: string; seq: number }>(); // oldest first
        let seq = 0;
        for (let op = 0; op < 60; op++) {
          const space = spaces[random(spaces.length)];
          const rest = rests[random(rests.length)];
          const key = space + rest;
          const kind = random(10);
          if (kind < 4) {
            const value = `${round}.${op}`;
            put(s, key, value);
            model.delete(key);
            model.set(key, { value, seq: ++seq });
            while (model.size > 8) model.delete(model.keys().next().value!);
          } else if (kind < 7) {
            const found = random(2) === 0 ? viaSpace(s, space, rest) : whole(s, key);
            const entry = model.get(key);
            expect({ round, op, key, found }).toEqual({ round, op, key, found: entry?.value });
            if (entry !== undefined && seq - entry.seq > 4) {
              model.delete(key);
              model.set(key, { value: entry.value, seq: ++seq });
            }
          } else if (kind < 9) {
            expect({ round, op, key, removed: s.remove(key) }).toEqual({ round, op, key, removed: model.delete(key) });
          } else {
            await s.clear(space);
            for (const k of [...model.keys()]) if (k.startsWith(space)) model.delete(k);
          }
          expect(s.size).toBe(model.size);
        }
        for (const [key, { value }] of model) expect(whole(s, key)).toBe(value);
      }
    },
  );
});
