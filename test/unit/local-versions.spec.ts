import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type LocalMeta, LocalVersions, TagState } from '../../lib/engine/local-versions';

const FIXED = ['app:~all', 'app:~ns:Users'];

describe('LocalVersions', () => {
  it("shares one meta between a method's untagged entries", () => {
    const versions = new LocalVersions();
    const a = versions.meta(FIXED, undefined, undefined);
    expect(versions.meta(FIXED, [], undefined)).toBe(a);
    expect(a.extra).toBeUndefined();
    expect(a.deps).toHaveLength(2);
    // another method with the same dependency keys shares their states, not the meta
    const other = versions.meta([...FIXED], undefined, undefined);
    expect(other).not.toBe(a);
    expect(other.deps).toEqual(a.deps);
    expect(other.deps[0]).toBe(a.deps[0]);
  });

  it("judges an entry by its method's dependencies and its call's", () => {
    const versions = new LocalVersions();
    const one = versions.meta(FIXED, ['app:~tag:user:1'], undefined);
    const two = versions.meta(FIXED, ['app:~tag:user:2', 'app:~tag:team:1'], undefined);
    expect(one.extra).toBeInstanceOf(TagState); // a single tag is kept without an array
    expect(two.extra).toHaveLength(2);
    const at = versions.now();
    versions.invalidate(['app:~tag:user:1']);
    expect([versions.fresh(at, one), versions.fresh(at, two)]).toEqual([false, true]);
    versions.invalidate(['app:~tag:team:1']);
    expect(versions.fresh(at, two)).toBe(false);
    expect(versions.fresh(versions.now(), two)).toBe(true); // computed after: fresh
    const later = versions.now();
    versions.invalidate(['app:~ns:Users']);
    expect(versions.fresh(later, versions.meta(FIXED, undefined, undefined))).toBe(false);
  });

  it('shares metas made alike in a row, and adds result tags once', () => {
    const versions = new LocalVersions();
    const a = versions.meta(FIXED, ['app:~tag:users'], 'v1');
    expect(versions.meta(FIXED, ['app:~tag:users'], 'v1')).toBe(a);
    expect(versions.meta(FIXED, ['app:~tag:users'], 'v2')).not.toBe(a);
    const extended = versions.extend(a, ['app:~tag:users', 'app:~tag:admins', FIXED[0]]);
    expect(extended.etag).toBe('v1');
    expect(extended.extra).toHaveLength(2); // no state twice
    const at = versions.now();
    versions.invalidate(['app:~tag:admins']);
    expect([versions.fresh(at, a), versions.fresh(at, extended)]).toEqual([true, false]);
  });

  it('forgets the states of dependencies nothing depends on any more', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const versions = new LocalVersions();
    const states = (versions as unknown as { states: Map<string, unknown> }).states;
    let held: LocalMeta[] = [];
    for (let i = 0; i < 3_000; i++) held.push(versions.meta(FIXED, [`app:~tag:gone:${i}`], undefined));
    const kept = versions.meta(FIXED, ['app:~tag:kept'], undefined);
    held = [];
    void held;
    await new Promise((resolve) => setImmediate(resolve)); // weak references hold for the job that made them
    gc();
    for (let i = 0; i < 3_000; i++) versions.meta(FIXED, [`app:~tag:new:${i}`], undefined);
    expect(states.size).toBeLessThan(4_000); // the gone ones were swept as the map grew
    const at = versions.now();
    versions.invalidate(['app:~tag:kept']);
    expect(versions.fresh(at, kept)).toBe(false); // a state still held is never forgotten
  });
});
