import assert from 'node:assert/strict';
import type { CacheStore } from '../types/store';
import { bytes, sleep, text, type SuiteContext } from './suite-context';

const ROUNDS = 20;
const PER_CONNECTION = 3;

/**
 * What instances sharing the data rely on: add, compareAndSet and compareAndDelete atomic on the
 * server (two connections, each serialising its own commands, still race), add's ttl (a lock a
 * crashed holder never releases), prefixes taken literally, and a store reopened after disconnect
 * (one store object given to app after app, as tests do).
 */
export function sharedContract(c: SuiteContext): void {
  const { it } = c.api;

  /** Runs `op` PER_CONNECTION times on each of two connections at once, for ROUNDS keys. */
  const race = async (what: string, fix: string, op: (s: CacheStore, key: string, i: number) => Promise<boolean>) => {
    const other = await c.second();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const key = `${c.p}${what}${round}`;
        const won = await Promise.all(
          Array.from({ length: 2 * PER_CONNECTION }, (_, i) => op(i % 2 === 0 ? c.store : other, key, i)),
        );
        const wins = won.filter(Boolean).length;
        assert.equal(
          wins,
          1,
          `${c.name}: ${wins} ${what}s of one key won across two connections (round ${round}); ${fix}`,
        );
        if (what !== 'compareAndDelete') assert.equal(text(await c.store.get(key)), `v${won.indexOf(true)}`);
        else assert.equal(await c.store.get(key), undefined);
      }
    } finally {
      await c.release(other);
    }
  };

  it('add: exactly one wins across two connections', () =>
    race(
      'add',
      'add must be one atomic command on the server (Redis SET NX, memcached ADD), not a read then a write',
      (s, key, i) => s.add(key, bytes(`v${i}`), 60_000),
    ));

  it('compareAndSet (when the store has it): exactly one wins across two connections', async () => {
    if (c.store.compareAndSet === undefined) return;
    await race(
      'compareAndSet',
      'compare and write in one atomic step on the server (a Lua script, memcached CAS)',
      async (s, key, i) => {
        if (i === 0) await c.store.set(key, bytes('old'), 60_000);
        return s.compareAndSet!(key, bytes('old'), bytes(`v${i}`), 60_000);
      },
    );
  });

  it('compareAndDelete (when the store has it): exactly one wins across two connections', async () => {
    if (c.store.compareAndDelete === undefined) return;
    await race(
      'compareAndDelete',
      'compare and delete in one atomic step on the server (a Lua script, memcached CAS)',
      async (s, key, i) => {
        if (i === 0) await c.store.set(key, bytes('token'), 60_000);
        return s.compareAndDelete!(key, bytes('token'));
      },
    );
  });

  it('add keeps the key for its ttl only (a lock a crashed holder never released ends)', async () => {
    const ttl = 2 * c.sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
    assert.equal(await c.store.add(`${c.p}lease`, bytes('crashed'), ttl), true);
    await sleep(ttl * 2 + 300);
    assert.equal(await c.store.get(`${c.p}lease`), undefined, `${c.name}: add ignored its ttl`);
    assert.equal(await c.store.add(`${c.p}lease`, bytes('next'), 60_000), true);
  });

  it('clear(prefix) takes the prefix literally (*, ?, [ are no patterns)', async () => {
    const base = c.p.slice(0, -1);
    const prefixes = [`${base}a?b:`, `${base}*:`, `${base}[ab]:`];
    const gone = prefixes.map((prefix) => `${prefix}x`);
    // what each prefix would match as a glob
    const kept = [`${base}aXb:x`, `${base}ab:x`, `${base}:x`, `${base}a:x`, `${base}b:x`];
    await Promise.all([...kept, ...gone].map((k) => c.store.set(k, bytes('v'), 60_000)));
    for (const prefix of prefixes) await c.store.clear(prefix);
    const left = await c.store.getMany([...kept, ...gone]);
    assert.deepEqual(
      left.map((v) => v !== undefined),
      [...kept.map(() => true), ...gone.map(() => false)],
      `${c.name}: clear() treated a prefix as a pattern (escape glob characters, as SCAN MATCH needs)`,
    );
  });

  it('works again after disconnect (the store object given to the next app)', async () => {
    const s = await c.open();
    await s.disconnect();
    if (s.ready !== undefined) assert.equal(await s.ready(5_000), true, `${c.name}: not ready again after disconnect`);
    await s.set(`${c.p}again`, bytes('v'), 60_000);
    assert.equal(
      text(await s.get(`${c.p}again`)),
      'v',
      `${c.name}: after disconnect() the store must reopen (in ready(), or on the next operation)`,
    );
    await c.close(s);
  });
}
