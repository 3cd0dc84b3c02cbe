import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LocalVersions, type TagState } from '../../lib/engine/local-versions';

describe('LocalVersions', () => {
  it('forgets the states of dependencies nothing depends on any more', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const versions = new LocalVersions();
    const states = (versions as unknown as { states: Map<string, unknown> }).states;
    let held: Array<readonly TagState[]> = [];
    for (let i = 0; i < 3_000; i++) held.push(versions.resolve([], [`app:~tag:gone:${i}`]));
    const kept = versions.resolve([], ['app:~tag:kept']);
    held = [];
    void held;
    await new Promise((resolve) => setImmediate(resolve)); // weak references hold for the job that made them
    gc();
    for (let i = 0; i < 3_000; i++) versions.resolve([], [`app:~tag:new:${i}`]);
    expect(states.size).toBeLessThan(4_000); // the gone ones were swept as the map grew
    const at = versions.now();
    versions.invalidate(['app:~tag:kept']);
    expect(versions.fresh(at, kept)).toBe(false); // a state still held is never forgotten
  });
});
