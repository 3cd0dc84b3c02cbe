import assert from 'node:assert/strict';
import { beforeExpiry, bytes, sleep, text, type SuiteContext } from './suite-context';

/** The byte contract every store keeps, on one connection. */
export function byteContract(c: SuiteContext): void {
  const { it } = c.api;
  it('gets what was set, and undefined for missing keys', async () => {
    assert.equal(await c.store.get(`${c.p}missing`), undefined);
    await c.store.set(`${c.p}a`, bytes('alpha'), 60_000);
    assert.equal(text(await c.store.get(`${c.p}a`)), 'alpha');
    await c.store.set(`${c.p}a`, bytes('beta'), 60_000);
    assert.equal(text(await c.store.get(`${c.p}a`)), 'beta');
  });

  it('keeps binary and large values byte for byte', async () => {
    const all = new Uint8Array(256).map((_, i) => i);
    await c.store.set(`${c.p}bin`, all, 60_000);
    assert.ok(Buffer.from((await c.store.get(`${c.p}bin`))!).equals(Buffer.from(all)));
    const large = new Uint8Array(512 * 1024).map((_, i) => (i * 7) & 0xff);
    await c.store.set(`${c.p}large`, large, 60_000);
    assert.ok(Buffer.from((await c.store.get(`${c.p}large`))!).equals(Buffer.from(large)));
    await c.store.set(`${c.p}empty`, new Uint8Array(0), 60_000);
    assert.equal((await c.store.get(`${c.p}empty`))?.byteLength, 0);
  });

  it('accepts keys with spaces, unicode, control bytes and over 250 bytes', async () => {
    const keys = [
      `${c.p}with space`,
      `${c.p}ünïcødé`,
      `${c.p}tab\there`,
      `${c.p}${'x'.repeat(400)}`,
      `${c.p}${'x'.repeat(401)}`,
    ];
    await Promise.all(keys.map((k, i) => c.store.set(k, bytes(`v${i}`), 60_000)));
    const got = await c.store.getMany(keys);
    assert.deepEqual(got.map(text), ['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('getMany keeps order and reports missing keys', async () => {
    await c.store.set(`${c.p}1`, bytes('one'), 60_000);
    await c.store.set(`${c.p}3`, bytes('three'), 60_000);
    const got = await c.store.getMany([`${c.p}1`, `${c.p}2`, `${c.p}3`]);
    assert.deepEqual(got.map(text), ['one', undefined, 'three']);
    assert.deepEqual(await c.store.getMany([]), []);
  });

  it('add sets only when absent', async () => {
    assert.equal(await c.store.add(`${c.p}lock`, bytes('first'), 60_000), true);
    assert.equal(await c.store.add(`${c.p}lock`, bytes('second'), 60_000), false);
    assert.equal(text(await c.store.get(`${c.p}lock`)), 'first');
  });

  it('exactly one of 50 concurrent adds wins', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => c.store.add(`${c.p}race`, bytes(`c${i}`), 60_000)),
    );
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('delete and deleteMany report what they removed', async () => {
    await c.store.set(`${c.p}d1`, bytes('1'), 60_000);
    await c.store.set(`${c.p}d2`, bytes('2'), 60_000);
    assert.equal(await c.store.delete(`${c.p}d1`), true);
    assert.equal(await c.store.delete(`${c.p}d1`), false);
    assert.equal(await c.store.deleteMany([`${c.p}d2`, `${c.p}nope`]), 1);
    assert.deepEqual(await c.store.getMany([`${c.p}d1`, `${c.p}d2`]), [undefined, undefined]);
  });

  it('clear(prefix) removes that prefix only', async () => {
    const other = `other${c.p}`;
    await Promise.all([
      c.store.set(`${c.p}x`, bytes('x'), 60_000),
      c.store.set(`${c.p}y`, bytes('y'), 60_000),
      c.store.set(`${other}x`, bytes('kept'), 60_000),
    ]);
    await c.store.clear(c.p);
    assert.deepEqual(await c.store.getMany([`${c.p}x`, `${c.p}y`]), [undefined, undefined]);
    assert.equal(text(await c.store.get(`${other}x`)), 'kept');
    await c.store.set(`${c.p}x`, bytes('again'), 60_000);
    assert.equal(text(await c.store.get(`${c.p}x`)), 'again');
  });

  it('expires entries after their ttl', async () => {
    const ttl = 2 * c.sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
    await c.store.set(`${c.p}long`, bytes('v'), 60_000);
    await beforeExpiry(ttl, async () => {
      await c.store.set(`${c.p}ttl`, bytes('v'), ttl);
      assert.notEqual(await c.store.get(`${c.p}ttl`), undefined);
    });
    await sleep(ttl * 2 + 300);
    assert.equal(await c.store.get(`${c.p}ttl`), undefined);
    assert.notEqual(await c.store.get(`${c.p}long`), undefined);
  });

  it('touch (when the store has it) extends the lifetime of existing keys', async () => {
    if (c.store.touch === undefined) return;
    const ttl = 2 * c.sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
    await beforeExpiry(ttl, async () => {
      await c.store.set(`${c.p}touched`, bytes('v'), ttl);
      await c.store.set(`${c.p}untouched`, bytes('v'), ttl);
      await c.store.touch!([`${c.p}touched`, `${c.p}never-set`], 60_000);
    });
    await sleep(ttl * 2 + 300);
    assert.equal(text(await c.store.get(`${c.p}touched`)), 'v');
    assert.equal(await c.store.get(`${c.p}untouched`), undefined);
    assert.equal(await c.store.get(`${c.p}never-set`), undefined);
  });

  it('compareAndSet (when the store has it) replaces only the value it was given, with its ttl', async () => {
    if (c.store.compareAndSet === undefined) return;
    const ttl = 2 * c.sut.ttlGranularityMs; // one granularity can end at the server clock's next tick
    await c.store.set(`${c.p}cas`, bytes('first'), 60_000);
    assert.equal(await c.store.compareAndSet(`${c.p}cas`, bytes('other'), bytes('lost'), 60_000), false);
    assert.equal(await c.store.compareAndSet(`${c.p}cas`, bytes('firs'), bytes('lost'), 60_000), false); // a prefix
    assert.equal(text(await c.store.get(`${c.p}cas`)), 'first');
    assert.equal(await c.store.compareAndSet(`${c.p}cas`, bytes('first'), bytes('second'), 60_000), true);
    assert.equal(text(await c.store.get(`${c.p}cas`)), 'second');
    assert.equal(await c.store.compareAndSet(`${c.p}absent`, bytes('first'), bytes('made'), 60_000), false);
    assert.equal(await c.store.get(`${c.p}absent`), undefined); // never creates a key
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        c.store.compareAndSet!(`${c.p}cas`, bytes('second'), bytes(`r${i}`), 60_000),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(text(await c.store.get(`${c.p}cas`)), `r${results.indexOf(true)}`);
    await c.store.set(`${c.p}short`, bytes('v'), 60_000);
    assert.equal(await c.store.compareAndSet(`${c.p}short`, bytes('v'), bytes('w'), ttl), true);
    await sleep(ttl * 2 + 300);
    assert.equal(await c.store.get(`${c.p}short`), undefined); // kept for the ttl given, not the old one
  });

  it('compareAndDelete (when the store has it) deletes only the value it was given', async () => {
    if (c.store.compareAndDelete === undefined) return;
    await c.store.set(`${c.p}cad`, bytes('mine'), 60_000);
    assert.equal(await c.store.compareAndDelete(`${c.p}cad`, bytes('theirs')), false);
    assert.equal(text(await c.store.get(`${c.p}cad`)), 'mine');
    assert.equal(await c.store.compareAndDelete(`${c.p}cad`, bytes('mine')), true);
    assert.equal(await c.store.get(`${c.p}cad`), undefined);
    assert.equal(await c.store.compareAndDelete(`${c.p}cad`, bytes('mine')), false);
  });

  it('handles 500 concurrent operations on distinct keys', async () => {
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.store.set(`${c.p}c${i}`, bytes(`v${i}`), 60_000)));
    const got = await Promise.all(Array.from({ length: 500 }, (_, i) => c.store.get(`${c.p}c${i}`)));
    assert.ok(got.every((v, i) => text(v) === `v${i}`));
  });
}
