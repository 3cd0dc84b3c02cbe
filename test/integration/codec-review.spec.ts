/**
 * Guards the tagged-JSON encoder and the memory store's size estimate against what a review found
 * (see also test/unit/serializer.spec.ts and test/unit/memory-store.spec.ts):
 * - a result whose sub-objects are shared (a DAG, no cycle) expands once per reference in JSON:
 *   24 objects each referencing the next twice are 2^24 nodes. The encoder stops past its budget
 *   and the value is returned uncached (an `uncacheable` event), never an out-of-memory crash;
 * - memoryStore({ maxBytes }) counts a large string even when it sits behind many small values
 *   (the estimate stopped after 10,000 nodes: an 8 MB string after 20,000 numbers was charged ~1.3 MB);
 * - a value comes back from Redis and memcached as the memory store returns it, or is not stored:
 *   array holes and null-prototype objects round-trip; symbol-keyed properties of plain objects
 *   (dropped silently before) make the value uncacheable, with the path in the event;
 * - a secret rotation rolled out as the README says (`[old, new]` everywhere, then `[new, old]`,
 *   then `[new]`) keeps instances of neighbouring stages hitting each other's entries, with no
 *   `tampered` event; `[new, old]` straight away makes instances still on `[old]` refuse and
 *   overwrite every entry the rolled ones write (what the README warns about).
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeModule,
  cacheHandle,
  UncacheableValueError,
  memcachedStore,
  memoryStore,
  redisStore,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { settle } from '../support/settle';
import { written } from '../support/written';

const servers = sharedServers();
const MB = 1024 * 1024;

describe('a result with shared sub-objects on Redis', () => {
  it('is returned, twice, not stored (uncacheable), and the process neither crashes nor runs out of memory', () => {
    const child = spawnSync(
      process.execPath,
      [
        '--max-old-space-size=512',
        '-r',
        'ts-node/register/transpile-only',
        join(__dirname, '../support/codec-dag-child.ts'),
      ],
      {
        cwd: join(__dirname, '../..'),
        env: { ...process.env, REDIS_URL: servers.redis, PREFIX: uniquePrefix('dag'), LEVELS: '24' },
        encoding: 'utf8',
        timeout: 90_000, // a bound for the test run, not an assertion on speed
      },
    );
    expect({ status: child.status, signal: child.signal, stdout: child.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'returned level 24\nreturned level 24\nruns 2; events uncacheable,uncacheable\nclosed\n',
    });
  }, 120_000);
});

@Injectable()
class Reports {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async padded(id: number): Promise<unknown[]> {
    this.runs++;
    const blob = String.fromCharCode(97 + id).repeat(8 * MB); // one-byte string: 8 MB of heap
    return [blob, ...new Array<number>(20_000).fill(id)];
  }
  @CacheMemoize({ ttl: '1h' })
  async bare(id: number): Promise<unknown[]> {
    this.runs++;
    return [String.fromCharCode(97 + id).repeat(8 * MB)];
  }
}

/** How many of ten 8 MB results a 32 MiB memory store still holds after all ten were computed. */
async function retained(method: 'padded' | 'bare'): Promise<number> {
  const module = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxBytes: 32 * MB }) } })],
    providers: [Reports],
  }).compile();
  await module.init();
  try {
    const reports = module.get(Reports);
    for (let id = 0; id < 10; id++) await reports[method](id);
    let kept = 0;
    for (let id = 0; id < 10; id++) {
      const before = reports.runs;
      await reports[method](id);
      if (reports.runs === before) kept++;
    }
    return kept;
  } finally {
    await module.close();
  }
}

describe('memoryStore maxBytes with large values', () => {
  it('ten 8 MB strings alone are bounded by maxBytes 32 MiB (at most 4 kept)', async () => {
    expect(await retained('bare')).toBeLessThanOrEqual(4);
  });

  it('ten 8 MB results are bounded by maxBytes 32 MiB even when each also holds 20,000 numbers', async () => {
    expect(await retained('padded')).toBeLessThanOrEqual(4);
  });
});

const OP_GT = Symbol.for('gt'); // Sequelize-style operator, a registered symbol
const internal = Symbol('internal');
function nullProto(): Record<string, unknown> {
  const d = Object.create(null) as Record<string, unknown>;
  d.apples = 3;
  d.__proto__ = { admin: true }; // an own key on an object without a prototype
  d.$t = 'D';
  return d;
}
const KEPT: Record<string, () => unknown> = {
  'sparse array keeps its holes': () => [1, , 3, , undefined], // eslint-disable-line no-sparse-arrays
  'null-prototype dictionary stays without a prototype': () => ({ counts: nullProto(), list: [nullProto()] }),
};
const REFUSED: Record<string, [() => unknown, string]> = {
  'plain object with a registered-symbol-keyed property (Sequelize operator)': [
    () => ({ where: { age: { [OP_GT]: 18 } } }),
    'result.where.age',
  ],
  'plain object with a symbol-keyed property': [() => [{ name: 'x', [internal]: 'meta' }], 'result[0]'],
};

@Injectable()
class Echo {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async value(name: string): Promise<unknown> {
    this.runs++;
    return (KEPT[name] ?? REFUSED[name][0])();
  }
}

describe.each([
  ['redis', () => redisStore({ url: servers.redis })],
  ['memcached', () => memcachedStore({ servers: servers.memcached[0] })],
])('round trip through %s', (name, make) => {
  const opened: TestingModule[] = [];
  let writer: { module: TestingModule; echo: Echo; events: CacheEvent[] };
  let reader: { module: TestingModule; echo: Echo; events: CacheEvent[] };
  const app = async (store: CacheStore, prefix: string) => {
    const events: CacheEvent[] = [];
    const module = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix, onEvent: (e) => events.push(e) })],
      providers: [Echo],
    }).compile();
    opened.push(module);
    await module.init();
    return { module, echo: module.get(Echo), events };
  };
  beforeAll(async () => {
    const prefix = uniquePrefix(`rt${name}`);
    writer = await app(make(), prefix);
    reader = await app(make(), prefix);
  });
  afterAll(async () => {
    for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
  });

  it.each(Object.keys(KEPT))('%s', async (c) => {
    await writer.echo.value(c);
    await settle(writer.module);
    const before = reader.echo.runs;
    const got = await reader.echo.value(c);
    expect(reader.echo.runs).toBe(before); // served from the shared store
    expect(got).toStrictEqual(KEPT[c]());
    if (c.startsWith('sparse')) {
      expect([1 in (got as unknown[]), 3 in (got as unknown[]), 4 in (got as unknown[])]).toEqual([false, false, true]);
    } else {
      const { counts, list } = got as { counts: Record<string, unknown>; list: Array<Record<string, unknown>> };
      for (const d of [counts, list[0]]) {
        expect(Object.getPrototypeOf(d)).toBeNull();
        expect(Object.keys(d)).toEqual(['apples', '__proto__', '$t']);
      }
      expect(({} as { admin?: boolean }).admin).toBeUndefined();
    }
  });

  it.each(Object.keys(REFUSED))('%s: returned as it is, not stored, the path reported', async (c) => {
    const first = await writer.echo.value(c);
    expect(first).toStrictEqual(REFUSED[c][0]()); // symbol keys included
    await settle(writer.module);
    const before = reader.echo.runs;
    await reader.echo.value(c);
    expect(reader.echo.runs).toBe(before + 1); // nothing in the shared store
    const refused = writer.events.filter((e) => e.type === 'uncacheable').map((e) => (e as { error: unknown }).error);
    expect(refused).toContainEqual(expect.any(UncacheableValueError));
    expect(refused.map((e) => (e as UncacheableValueError).path)).toContain(REFUSED[c][1]);
  });
});

const OLD = 'old-secret-of-enough-length-1';
const NEW = 'new-secret-of-enough-length-2';

@Injectable()
class Balances {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async of(id: number): Promise<{ id: number; run: number }> {
    return { id, run: ++this.runs };
  }
}

describe('rolling a secret rotation out', () => {
  const opened: TestingModule[] = [];
  afterEach(async () => {
    for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
  });
  const instance = async (prefix: string, secret: string[]) => {
    const events: CacheEvent[] = [];
    const module = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: servers.redis }) },
          prefix,
          secret,
          onEvent: (e) => events.push(e),
        }),
      ],
      providers: [Balances],
    }).compile();
    opened.push(module);
    await module.init();
    const svc = module.get(Balances);
    return { svc, events, keyOf: (id: number) => cacheHandle(svc, 'of').keyOf(id) };
  };
  type Instance = Awaited<ReturnType<typeof instance>>;
  /** `writer` computes `id`, then `reader` asks for it: whether it hit, and what `reader` reported. */
  const crossRead = async (writer: Instance, reader: Instance, id: number) => {
    await writer.svc.of(id);
    await written(writer.events, writer.keyOf(id));
    const before = reader.svc.runs;
    await reader.svc.of(id);
    return {
      hit: reader.svc.runs === before,
      tampered: reader.events.filter((e) => e.type === 'tampered').length,
    };
  };

  it('in three steps, [old, new] then [new, old] then [new], every mid-rollout pair hits both ways', async () => {
    const prefix = uniquePrefix('rotate');
    const stages = [[OLD], [OLD, NEW], [NEW, OLD], [NEW]];
    const results: string[] = [];
    let id = 0;
    // Mid-rollout, instances run one stage or the next (the last pair only after OLD's entries expired).
    for (let s = 0; s + 1 < stages.length; s++) {
      const a = await instance(prefix, stages[s]);
      const b = await instance(prefix, stages[s + 1]);
      for (const [w, r] of [
        [a, b],
        [b, a],
      ])
        results.push(JSON.stringify(await crossRead(w, r, ++id)));
    }
    expect(results).toEqual(new Array(6).fill(JSON.stringify({ hit: true, tampered: 0 })));
  });

  it('[new, old] straight away: instances still on [old] refuse what the rolled ones write (the README warns)', async () => {
    const prefix = uniquePrefix('rotate1');
    const notYet = await instance(prefix, [OLD]);
    const rolled = await instance(prefix, [NEW, OLD]);
    expect(await crossRead(rolled, notYet, 1)).toEqual({ hit: false, tampered: 1 });
    expect(await crossRead(notYet, rolled, 2)).toEqual({ hit: true, tampered: 0 });
  });
});
