/* Arguments a background refresh copies, or rightly does not (memory store, grace): values and counts. */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const OPTS = { ttl: 40, grace: '1h' } as const;
class Money {
  constructor(public amount: number) {}
}
class MyDate extends Date {
  tag() {
    return 'my';
  }
}
const S = Symbol.for('op.gt');

@Injectable()
class Svc {
  gen = 0;
  @CacheMemoize(OPTS)
  async describe(q: any): Promise<string> {
    await Promise.resolve();
    const parts = [
      Object.isFrozen(q) ? 'frozen' : 'thawed',
      Object.getPrototypeOf(q) === null ? 'nullproto' : 'objproto',
      q[S] !== undefined ? `sym${q[S]}` : 'nosym',
      q.when instanceof MyDate ? 'mydate' : q.when instanceof Date ? `date${q.when.getTime()}` : 'nodate',
      q.money instanceof Money ? 'money' : 'nomoney',
    ];
    return `${parts.join(',')}@${this.gen}`;
  }
  @CacheMemoize({ ...OPTS, key: (q: { id: number }) => q.id })
  async keyed(q: any): Promise<string> {
    await Promise.resolve();
    return `${q.id}:${Array.isArray(q.big) ? q.big.length : '-'}@${this.gen}`;
  }
}

const opened: TestingModule[] = [];
afterEach(async () => {
  jest.restoreAllMocks();
  for (const m of opened.splice(0)) await m.close().catch(() => undefined);
});

it.each<[string, () => any, 'describe' | 'keyed']>([
  ['frozen', () => Object.freeze({ a: 1 }), 'describe'],
  ['null proto', () => Object.assign(Object.create(null), { a: 1 }), 'describe'],
  ['registered symbol key', () => ({ a: 1, [S]: 18 }), 'describe'],
  ['Date', () => ({ when: new Date(5) }), 'describe'],
  ['Date subclass', () => ({ when: new MyDate(5) }), 'describe'],
  ['nested class instance', () => ({ money: new Money(3) }), 'describe'],
  [
    'cycle fan-out 3 (key option)',
    () => {
      const o: any = { id: 1 };
      o.a = o;
      o.b = o;
      o.c = o;
      return o;
    },
    'keyed',
  ],
  [
    'deep 10k (key option)',
    () => {
      let n: any = { id: 2 };
      for (let i = 0; i < 10_000; i++) n = { id: 2, n };
      return n;
    },
    'keyed',
  ],
  ['1e6 array (key option)', () => ({ id: 3, big: new Array(1_000_000).fill(1) }), 'keyed'],
])('%s', async (name, make, m) => {
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const app = await appOn(memoryStore(), uniquePrefix('held'), [Svc]);
  opened.push(app);
  const svc = app.get(Svc);
  const miss = await svc[m](make());
  await settle(app);
  await sleep(60);
  svc.gen++;
  await svc[m](make());
  await settle(app);
  const after = await svc[m](make());
  expect(after).toBe(miss.replace('@0', '@1'));
});
