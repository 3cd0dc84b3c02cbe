import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { callMarks } from '../../lib/engine/deps-sum';
import { type TagState, LocalVersions } from '../../lib/engine/local-versions';

const FIXED = ['app:~all', 'app:~ns:Users'];
const USER1 = ['app:~tag:user:1'];
const USER2 = ['app:~tag:user:2', 'app:~tag:team:1'];
const depsSum = (deps: readonly string[]) => callMarks(deps).sum;
const depsSig = (deps: readonly string[]) => callMarks(deps).sig;

describe('LocalVersions', () => {
  it("shares one meta between a method's entries, whatever their call's tags", () => {
    const versions = new LocalVersions();
    const a = versions.meta(FIXED, undefined);
    expect(versions.meta(FIXED, undefined)).toBe(a);
    expect(a.extra).toBeUndefined();
    expect(a.deps).toHaveLength(2);
    // another method with the same dependency keys shares their states, not the meta
    const other = versions.meta([...FIXED], undefined);
    expect(other).not.toBe(a);
    expect(other.deps).toEqual(a.deps);
    expect(other.deps[0]).toBe(a.deps[0]);
    // an etag makes its own, shared by the next one alike
    const v1 = versions.meta(FIXED, 'v1');
    expect(versions.meta(FIXED, 'v1')).toBe(v1);
    expect(versions.meta(FIXED, 'v2')).not.toBe(v1);
  });

  it("judges an entry by its method's dependencies and by the call tags it was computed with", () => {
    const versions = new LocalVersions();
    const meta = versions.meta(FIXED, undefined);
    const check = (at: number, deps: readonly string[], callDeps = deps) =>
      versions.fresh(at, meta, depsSum(deps), depsSig(deps), callDeps);
    const at = versions.now();
    versions.invalidate(['app:~tag:user:1']);
    expect([check(at, USER1), check(at, USER2)]).toEqual([false, true]);
    versions.invalidate(['app:~tag:team:1']);
    expect(check(at, USER2)).toBe(false);
    expect(check(versions.now(), USER2)).toBe(true); // computed after: fresh
    const later = versions.now();
    versions.invalidate(['app:~ns:Users']);
    expect(versions.fresh(later, meta)).toBe(false);
    expect(check(later, USER2)).toBe(false);
  });

  it('holds an entry stale when its own tag was invalidated, whatever tags the call computes now', () => {
    const versions = new LocalVersions();
    const meta = versions.meta(FIXED, undefined);
    const at = versions.now();
    const one = [depsSum(USER1), depsSig(USER1)] as const;
    // nothing invalidated since: nothing can have made the entry stale
    expect(versions.fresh(at, meta, ...one, USER2)).toBe(true);
    versions.invalidate(USER1);
    for (const call of [USER1, USER2, ['app:~tag:user:1', 'x'], undefined]) {
      expect(versions.fresh(at, meta, ...one, call)).toBe(false);
    }
    // an untagged entry has no tag to invalidate, whatever the call's
    expect(versions.fresh(at, meta, 0, 0, USER1)).toBe(true);
  });

  it('rules out by signature most keys invalidated since, and by name the rest (every signature bit set)', () => {
    const versions = new LocalVersions();
    const meta = versions.meta(FIXED, undefined);
    const at = versions.now();
    for (let i = 0; i < 1_000; i++) versions.invalidate([`app:~tag:other:${i}`]);
    // all 32 bits set: the signature rules out nothing, so the check goes by name
    expect(versions.fresh(at, meta, depsSum(USER1), -1, USER1)).toBe(true);
    expect(versions.fresh(at, meta, depsSum(USER1), -1, USER2)).toBe(false); // other tags than the entry's
    expect(versions.fresh(at, meta, depsSum(['ab']), -1, ['a', 'b'])).toBe(false); // the keys' ends count
    expect(versions.fresh(at, meta, depsSum(['a', 'b']), -1, ['b', 'a'])).toBe(false); // so does their order
    expect(versions.fresh(at, meta, depsSum(USER1), depsSig(USER1), USER1)).toBe(true);
    versions.invalidate(USER1);
    expect(versions.fresh(at, meta, depsSum(USER1), -1, USER1)).toBe(false);
  });

  it('adds dependencies known once computed (result tags) and judges by them', () => {
    const versions = new LocalVersions();
    const a = versions.meta(FIXED, 'v1');
    const extended = versions.extend(a, ['app:~tag:users', 'app:~tag:admins', 'app:~tag:users']);
    expect(extended.etag).toBe('v1');
    expect(extended.extra).toEqual(['app:~tag:users', 'app:~tag:admins']); // each once
    expect(versions.extend(a, ['app:~tag:users', 'app:~tag:admins'])).toBe(extended); // alike: shared
    const single = versions.extend(a, ['app:~tag:one']);
    expect(single.extra).toBe('app:~tag:one'); // one is kept without an array
    const at = versions.now();
    versions.invalidate(['app:~tag:admins']);
    expect([versions.fresh(at, a), versions.fresh(at, extended), versions.fresh(at, single)]).toEqual([
      true,
      false,
      true,
    ]);
    versions.invalidate(['app:~tag:one']);
    expect(versions.fresh(at, single)).toBe(false);
    expect(versions.untouchedSince(at, ['app:~tag:users'])).toBe(true);
    expect(versions.untouchedSince(at, ['app:~tag:users', 'app:~tag:one'])).toBe(false);
  });

  it('goes by name once the ring of invalidated keys no longer reaches back to the entry', () => {
    const versions = new LocalVersions();
    const meta = versions.meta(FIXED, undefined);
    const at = versions.now();
    versions.invalidate(USER1);
    const sig = depsSig(USER1);
    // a key the signature rules out, invalidated until the ring has forgotten user:1
    const noise = Array.from({ length: 100 }, (_, i) => `app:~tag:noise:${i}`).find((k) => (depsSig([k]) & ~sig) !== 0);
    for (let i = 0; i < 5_000; i++) versions.invalidate([noise!]);
    expect(versions.fresh(at, meta, depsSum(USER1), sig, USER1)).toBe(false);
    expect(versions.fresh(at, meta, depsSum(USER2), depsSig(USER2), USER2)).toBe(true);
  });

  it('remembers the latest 65,536 invalidated keys by name; older entries with tags are then stale, never fresh', () => {
    const versions = new LocalVersions();
    const meta = versions.meta(FIXED, undefined);
    const old = versions.now();
    const marks = [depsSum(USER1), depsSig(USER1)] as const;
    const result = versions.extend(meta, ['app:~tag:kept']);
    for (let i = 0; i < 70_000; i++) versions.invalidate([`app:~tag:other:${i}`]);
    // user:1 and kept were never invalidated, but the records that would say so are gone
    expect(versions.fresh(old, meta, ...marks, USER1)).toBe(false);
    expect(versions.fresh(old, result)).toBe(false);
    expect(versions.untouchedSince(old, USER1)).toBe(false);
    // an entry without call or result tags is judged by its method's states, which are never forgotten
    expect(versions.fresh(old, meta)).toBe(true);
    // entries that started after the forgotten ones are judged by name
    const recent = versions.now() - 100;
    expect(versions.fresh(recent, meta, ...marks, USER1)).toBe(true);
    expect(versions.fresh(recent, meta, depsSum(USER1), -1, USER1)).toBe(true); // by name
    versions.invalidate(USER1);
    expect(versions.fresh(recent, meta, ...marks, USER1)).toBe(false);
    const records = (versions as unknown as { records: Map<string, number> }).records;
    expect(records.size).toBeLessThanOrEqual(65_536);
  });

  it('forgets the states of dependencies nothing depends on any more', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const versions = new LocalVersions();
    const states = (versions as unknown as { states: Map<string, unknown> }).states;
    let held: (readonly TagState[])[] = [];
    for (let i = 0; i < 3_000; i++) held.push(versions.resolve([`app:~tag:gone:${i}`]));
    const kept = versions.resolve(['app:~tag:kept']);
    held = [];
    void held;
    await new Promise((resolve) => setImmediate(resolve)); // weak references hold for the job that made them
    gc();
    for (let i = 0; i < 3_000; i++) versions.resolve([`app:~tag:new:${i}`]);
    expect(states.size).toBeLessThan(4_000); // the gone ones were swept as the map grew
    versions.invalidate(['app:~tag:kept']);
    expect(kept[0].at).toBe(versions.now()); // a state still held is never forgotten
  });
});
