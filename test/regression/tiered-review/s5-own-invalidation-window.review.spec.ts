import { RedisServer } from '../../support/servers';
import { uniquePrefix } from '../../support/shared-servers';
import { drained } from '../../support/settle';
import { closeAll, instance, leased, policyFor, sleep } from './helpers';

/**
 * The invalidating instance drops its L1 copy and moves its local versions first (applyHere, via
 * observer.invalidating), then writes L2. A lookup (or computation) of this instance that starts
 * in between reads L2's old entry (not yet invalidated) with a stamp taken after the local
 * invalidation, so the L1 fill passes `untouchedSince` and the old value is back in L1. Once the
 * invalidation resolves, the next calls are served that copy from L1 under the lease.
 */
describe("review S5: concurrent call during the invalidating instance's own invalidation", () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.launch();
  });
  afterAll(() => server.stop());

  // (the same loop with invalidateDeps passed 300/300 rounds: tags move the epoch before the tokens)
  it.each([['invalidateKeys', 'key']])(
    '%s: after it resolves, no call on the same instance returns the old value (300 rounds)',
    async (_n, how) => {
      const prefix = uniquePrefix('rs5');
      const a = await instance(server.url, prefix);
      const stale: string[] = [];
      try {
        for (let round = 0; round < 300; round++) {
          const tag = `${prefix}:~tag:t${round}`;
          const key = `${prefix}:k${round}`;
          const policy = policyFor(tag);
          expect(await a.getOrSet(key, async () => 'old', policy)).toBe('old');
          await drained(a);
          if (round === 0) await leased(a, key);
          const inv = how === 'tag' ? a.invalidateDeps([tag]) : a.invalidateKeys([key]);
          const delay = round % 4; // the concurrent call starts 0-3 ms into the invalidation
          const during = (delay === 0 ? Promise.resolve() : sleep(delay)).then(() =>
            a.getOrSet(key, async () => 'during', policy),
          );
          await inv;
          await during; // started before the invalidation resolved: may be 'old'
          const after = await a.getOrSet(key, async () => 'new', policy);
          if (after === 'old') {
            stale.push(`round ${round} (delay ${delay})`);
            if (stale.length === 1) {
              await sleep(3_000); // and it stays: L2 no longer has the entry, L1 serves it under the lease
              stale.push(`3 s later: ${await a.getOrSet(key, async () => 'new', policy)}`);
            }
          }
        }
      } finally {
        await closeAll(a);
      }
      expect(stale).toEqual([]);
    },
    120_000,
  );
});
