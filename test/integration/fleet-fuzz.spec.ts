/*
 * A fleet of three app instances, each in its own process, on one store (Redis, memcached, memory
 * over either), under a seeded random mix of everything a fleet does at once: reads (single and
 * @CacheMemoizeMany), refreshes, expireIn, and writes told to the cache in every way the README
 * offers (@CachePut, set(), invalidateTags, a key, a namespace, clear()), while instances' event
 * loops stall.
 *
 * The guarantee checked on every read: once a write's call resolved (its database row bumped to v,
 * then the cache told), a read issued afterwards, on any instance, returns version >= v. Writes of
 * one row are serialized here, as the README asks of `set()` ("when writers race, invalidate
 * instead"); writes of other rows, reads and refreshes of the same row race freely. Each write that
 * resolved is followed at once by a read on another instance. At the end
 * every instance reads every row's last version.
 *
 * Then the same under faults, on a store of its own: every 60 ops it is frozen (SIGSTOP, 200-900 ms)
 * or, every third time, restarted empty. No read may fail, hang or go below a resolved write.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { spawnTs } from '../support/ts-child';
import { seeded } from '../support/seeded';
import { MemcachedServer, RedisServer } from '../support/servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const OPS = 500;
// Hunting a race: FUZZ_FAULT_OPS runs the faulty fleets longer, FUZZ_SEED (a number) xors every seed.
const FAULT_OPS = Number(process.env.FUZZ_FAULT_OPS ?? 360);
const seedOf = (seed: number) => (process.env.FUZZ_SEED === undefined ? seed : seed ^ Number(process.env.FUZZ_SEED));
const IN_FLIGHT = 8;
const ROWS = 6;
const REPLY_MS = 15_000;

type User = { id: number; version: number };
type Reply = { users?: User[]; version?: number; expired?: boolean; error?: string };

class Instance {
  private seq = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly ready: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    let onReady!: () => void;
    this.ready = new Promise((r) => (onReady = r));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let message: Reply & { rid?: number; event?: string };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        return;
      }
      if (message.event === 'ready') onReady();
      if (typeof message.rid !== 'number') return;
      this.pending.get(message.rid)?.(message);
      this.pending.delete(message.rid);
    });
  }

  static async start(args: string[]): Promise<Instance> {
    const instance = new Instance(spawnTs('test/support/fleet-fuzz-worker.ts', args));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('worker not ready in 60 s')), 60_000);
    });
    await Promise.race([instance.ready, late]).finally(() => clearTimeout(timer));
    return instance;
  }

  /** The reply, or an `error` when none came within REPLY_MS (a hang is a failure too). */
  send(command: Record<string, unknown>): Promise<Reply> {
    const rid = this.seq++;
    return new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        resolve({ error: `no reply to ${JSON.stringify(command)} within ${REPLY_MS} ms` });
      }, REPLY_MS);
      this.pending.set(rid, (reply) => (clearTimeout(timer), resolve(reply)));
      this.child.stdin!.write(JSON.stringify({ ...command, rid }) + '\n');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.stdin!.write(JSON.stringify({ op: 'exit', rid: -1 }) + '\n');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.child.kill('SIGKILL'), resolve()), 5_000);
      this.child.once('exit', () => (clearTimeout(timer), resolve()));
    });
  }
}

/** Op weights: reads dominate, as in a fleet; every write path and a stall appear every few dozen ops. */
const mix: Array<[string, number]> = [
  ['get', 34],
  ['many', 12],
  ['refresh', 8],
  ['expire', 5],
  ['put', 8],
  ['set', 7],
  ['tag', 9],
  ['key', 6],
  ['namespace', 3],
  ['clear', 2],
  ['stall', 3],
];
const writes = new Set(['put', 'set', 'tag', 'key', 'namespace', 'clear']);

function pick(random: () => number): string {
  const only = process.env.FUZZ_ONLY?.split(',');
  if (only) return only[Math.floor(random() * only.length)];
  let at = random() * mix.reduce((sum, [, w]) => sum + w, 0);
  for (const [op, weight] of mix) if ((at -= weight) < 0) return op;
  return 'get';
}

interface Fault {
  /** Every `every` ops (seeded), one fault on the store under the fleet: frozen a while, or restarted empty. */
  every: number;
  server: RedisServer | MemcachedServer;
}

/**
 * Runs `ops` seeded random ops over the fleet and checks every read against the writes resolved
 * before it was issued. Under faults a write may be refused (StoreFailureError,
 * InvalidationFailedError): it is not counted as resolved; a `set()` resolves even when its
 * invalidation could not be written (README), so under faults it is not counted either.
 */
async function fuzz(app: string, seed: number, ops: number, fault?: Fault) {
  const random = seeded(seed);
  const committed = new Map<number, number>(); // row → highest version whose write resolved
  const rowWrites = new Map<number, Promise<void>>(); // row → its last write (serialized)
  const violations: string[] = [];
  const failures: string[] = [];
  const running = new Set<Promise<void>>();
  const counts: Record<string, number> = {};
  let faulting: Promise<void> = Promise.resolve();

  const check = (label: string, reply: Reply, floor: Map<number, number>) => {
    if (reply.error) return void failures.push(`${label}: ${reply.error}`);
    for (const user of reply.users ?? []) {
      const least = floor.get(user.id) ?? 0;
      if (user.version < least) violations.push(`${label}: row ${user.id} v${user.version} < v${least}`);
    }
  };
  const refused = (reply: Reply) =>
    fault !== undefined && /StoreFailureError|InvalidationFailedError/.test(reply.error ?? '');

  for (let n = 0; n < ops; n++) {
    while (running.size >= IN_FLIGHT) await Promise.race(running);
    if (fault !== undefined && n % fault.every === fault.every - 1) {
      const server = fault.server;
      const freezeMs = 200 + Math.floor(random() * 700);
      const restart = n % (3 * fault.every) === 3 * fault.every - 1; // every third fault
      faulting = faulting.then(async () => {
        counts[restart ? 'restart' : 'freeze'] = (counts[restart ? 'restart' : 'freeze'] ?? 0) + 1;
        if (restart) return server.restart();
        server.freeze();
        await sleep(freezeMs);
        server.thaw();
      });
    }
    const op = pick(random);
    const at = Math.floor(random() * fleet.length);
    const instance = fleet[at];
    const id = 1 + Math.floor(random() * ROWS);
    const label = `#${n} ${op} row ${id} on ${at}`;
    counts[op] = (counts[op] ?? 0) + 1;
    let task: Promise<void>;
    if (writes.has(op)) {
      task = (rowWrites.get(id) ?? Promise.resolve()).then(async () => {
        const reply = await instance.send({ app, op, id });
        if (refused(reply)) return void (counts.refused = (counts.refused ?? 0) + 1);
        if (reply.error) return void failures.push(`${label}: ${reply.error}`);
        if (fault !== undefined && op === 'set') return;
        committed.set(id, Math.max(committed.get(id) ?? 0, reply.version!));
        // At once, on another instance: the moment the guarantee is most likely to break.
        const next = fleet[(at + 1 + (reply.version! % 2)) % fleet.length];
        const floor = new Map(committed);
        check(`${label}, then get on another`, await next.send({ app, op: 'get', id }), floor);
      });
      rowWrites.set(id, task);
    } else if (op === 'stall') {
      task = instance.send({ app, op, ms: 50 + Math.floor(random() * 250) }).then(() => undefined);
    } else {
      const ids = op === 'many' ? [id, 1 + ((id + n) % ROWS), 1 + ((id * 7 + n) % ROWS)] : [id];
      const floor = new Map(committed); // what must be seen: writes resolved before this is issued
      task = instance.send(op === 'many' ? { app, op, ids } : { app, op, id }).then((reply) => {
        if (op === 'expire' && refused(reply)) return; // expireIn rejects when it cannot judge the entry
        check(label, reply, floor);
      });
    }
    const tracked: Promise<void> = task.finally(() => running.delete(tracked));
    running.add(tracked);
    if (random() < 0.3) await sleep(Math.floor(random() * 3));
  }
  await Promise.all(running);
  await faulting;

  // Quiet now: every instance reads every row at its last resolved version or newer (all of them
  // once no write was refused: a refused one is retried in the background, and may still be).
  for (const [at, instance] of fleet.entries()) {
    for (let id = 1; id <= ROWS; id++) {
      const reply = await instance.send({ app, op: 'get', id });
      check(`final row ${id} on ${at}`, reply, committed);
      const got = reply.users?.[0]?.version;
      if (fault === undefined && got !== undefined && got !== (committed.get(id) ?? 0))
        violations.push(`final row ${id} on ${at}: v${got}`);
    }
  }
  return { violations, failures, counts };
}

// The fleet: three processes, each with one app per store below (spawning is what takes time).
const fleet: Instance[] = [];
const plain: Array<[string, string, number]> = [
  ['redis', servers.redis, 0x5eed1],
  ['memcached', servers.memcached.join(','), 0x5eed2],
  ['tiered', servers.redis, 0x5eed3],
  ['tiered-memcached', servers.memcached.join(','), 0x5eed4],
];
// Under faults, each on a store of its own.
const faulty: Array<[string, number, RedisServer | MemcachedServer]> = [];

beforeAll(async () => {
  const own = await Promise.all([RedisServer.launch(), MemcachedServer.launch(), RedisServer.launch()]);
  faulty.push(['redis', 0xfa171, own[0]], ['memcached', 0xfa172, own[1]], ['tiered', 0xfa173, own[2]]);
  const apps = [
    ...plain.map(([kind, address]) => ({ name: kind.replace('-', ''), kind, address })),
    ...faulty.map(([kind, , server]) => ({
      name: `faulty${kind}`,
      kind,
      address: server instanceof RedisServer ? server.url : server.address,
    })),
  ];
  const args = [uniquePrefix('fleet'), servers.redis, JSON.stringify(apps)];
  fleet.push(...(await Promise.all([0, 1, 2].map(() => Instance.start(args)))));
  await sleep(200); // bus leases held (tiered)
}, 120_000);
afterAll(async () => {
  await Promise.all(fleet.map((i) => i.stop()));
  await Promise.all(faulty.map(([, , server]) => server.stop()));
});

describe.each(plain)('a fleet of three processes on %s', (kind, _address, seed) => {
  it(`${OPS} random racing ops: a read issued after a write resolved never returns an older version`, async () => {
    const { violations, failures, counts } = await fuzz(kind.replace('-', ''), seed, OPS);
    expect({ violations, failures }).toEqual({ violations: [], failures: [] });
    for (const op of writes) expect([op, counts[op] > 10]).toEqual([op, true]); // every write path ran
  }, 240_000);
});

describe.each(['redis', 'memcached', 'tiered'])(
  'a fleet of three processes on %s, its store frozen and restarted empty now and then',
  (kind) => {
    it(`${FAULT_OPS} racing ops, a fault every 60: no read fails or returns a version older than a resolved write`, async () => {
      const [, seed, server] = faulty.find(([k]) => k === kind)!;
      const { violations, failures, counts } = await fuzz(`faulty${kind}`, seedOf(seed), FAULT_OPS, {
        every: 60,
        server,
      });
      expect({ violations, failures }).toEqual({ violations: [], failures: [] });
      if (process.env.FUZZ_FAULT_OPS === undefined) expect([counts.freeze, counts.restart]).toEqual([4, 2]);
    }, 240_000);
  },
);
