/*
 * Instance B's refresh X of k (its compare-and-set on its way) and, on instance A, two refreshes of
 * k: A1, then A2 (newer). X's move lands first; A1's compare-and-set fails while A2's is still on
 * its way (and will fail too). A1 must not take A2's move as done: it waits for what A2's
 * compare-and-set answers, and invalidates (found by review: it left the entry to A2 at once and
 * resolved while X's older value was the fresh entry). A2's compare-and-set is slowed here to
 * make the window visible; on a network it is one round trip.
 */
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from '../support/policy';
import { uniquePrefix } from '../support/shared-servers';
import { storeCases } from '../support/store-cases';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cases = storeCases('redis', 'memcached');

describe.each(cases)('%s', (_n, make) => {
  it("an older refresh resolves on a newer one's unconfirmed move: an older value is served after it resolved", async () => {
    const prefix = uniquePrefix('tent');
    const sa = make();
    const sb = make();
    await sa.ready?.(5_000);
    await sb.ready?.(5_000);
    // B's bucket compare-and-set waits for xGate; A's second bucket compare-and-set (A2's) is slow.
    let openX!: () => void;
    const xGate = new Promise<void>((r) => (openX = r));
    let xWaiting = false;
    const casB = sb.compareAndSet!.bind(sb);
    sb.compareAndSet = async (k, e, n, t) => {
      if (k.includes('~kb:')) {
        xWaiting = true;
        await xGate;
      }
      return casB(k, e, n, t);
    };
    let armed = false;
    let kbCalls = 0;
    const casA = sa.compareAndSet!.bind(sa);
    sa.compareAndSet = async (k, e, n, t) => {
      if (armed && k.includes('~kb:') && ++kbCalls === 2) await sleep(300);
      return casA(k, e, n, t);
    };
    const a = new Memoizer(sa, { prefix });
    const b = new Memoizer(sb, { prefix });
    const policy = testPolicy({ ttlMs: 600_000 });
    const key = `${prefix}:k`;
    try {
      await a.getOrSet(key, async () => 'old', policy);
      await a.ctx.background.drain(3_000);
      const x = b.refresh(key, () => 'X-older', policy); // X's value is final now
      while (!xWaiting) await sleep(5);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const a1 = a.refresh(key, () => gate.then(() => 'A1'), policy);
      await sleep(5);
      const a2 = a.refresh(key, () => gate.then(() => 'A2'), policy);
      await sleep(50); // both snapshots read the old token
      openX();
      await x; // X's move and its entry landed
      armed = true;
      release();
      await a1; // A1's refresh() resolved
      const seen = await a.inspect(key, undefined, policy);
      const afterA1 = seen.state === 'miss' ? 'miss' : seen.value;
      await a2;
      const final = await a.inspect(key, undefined, policy);
      expect({ afterA1, final: final.state === 'miss' ? 'miss' : final.value }).not.toMatchObject({
        afterA1: 'X-older',
      });
    } finally {
      await a.close();
      await b.close();
      await sa.disconnect();
      await sb.disconnect();
    }
  }, 30_000);
});
