import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/servers';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const kids = new Set<ChildProcess>();
process.once('exit', () => kids.forEach((k) => k.kill('SIGKILL')));

export class Proc {
  child!: ChildProcess;
  constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}
  async start(): Promise<this> {
    this.child = spawn('redis-server', this.args, { stdio: 'ignore' });
    kids.add(this.child);
    for (let i = 0; i < 200; i++) {
      try {
        if (this.cli('ping') === 'PONG') return this;
      } catch {
        // not yet
      }
      await sleep(50);
    }
    throw new Error(`redis on ${this.port} did not start`);
  }
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8', timeout: 3000 }).trim();
  }
  stopProc(): void {
    this.child.kill('SIGSTOP');
  }
  cont(): void {
    this.child.kill('SIGCONT');
  }
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    await new Promise<void>((r) => {
      this.child.once('exit', () => r());
      this.child.kill('SIGKILL');
    });
    kids.delete(this.child);
  }
}

const dir = () => mkdtempSync(join(tmpdir(), 'rev-ha-'));
const base = (port: number, d: string) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'no',
  '--dir',
  d,
  '--protected-mode',
  'no',
];

export async function redisNode(extra: string[] = []): Promise<Proc> {
  const port = await freePort();
  return new Proc(port, [...base(port, dir()), ...extra]).start();
}

/** master + replica + one sentinel with a quick failover. */
export async function sentinelSet(name = 'mymaster') {
  const master = await redisNode();
  const replica = await redisNode(['--replicaof', '127.0.0.1', String(master.port)]);
  const sport = await freePort();
  const d = dir();
  const conf = join(d, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sport}`,
      'bind 127.0.0.1',
      `dir ${d}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const sentinel = await new Proc(sport, [conf, '--sentinel']).start();
  // wait for replica link up
  for (let i = 0; i < 100 && !replica.cli('info', 'replication').includes('master_link_status:up'); i++)
    await sleep(100);
  for (let i = 0; i < 100 && !sentinel.cli('sentinel', 'replicas', name).includes(String(replica.port)); i++)
    await sleep(100);
  const masterPort = () => Number(sentinel.cli('sentinel', 'get-master-addr-by-name', name).split('\n')[1]);
  const stop = async () => {
    await sentinel.kill();
    await replica.kill();
    await master.kill();
    rmSync(d, { recursive: true, force: true });
  };
  return { master, replica, sentinel, masterPort, stop, name };
}

/** A cluster of `masters` masters with `replicas` replicas each. */
export async function cluster(masters = 3, replicas = 1) {
  const nodes: Proc[] = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await freePort();
    nodes.push(
      await new Proc(port, [
        ...base(port, dir()),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '1000',
      ]).start(),
    );
  }
  execFileSync(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 150 && !nodes.every((n) => n.cli('cluster', 'info').includes('cluster_state:ok')); i++)
    await sleep(100);
  for (let i = 0; i < 150; i++) {
    const roles = nodes.map((n) => n.cli('info', 'replication'));
    if (
      roles.filter((r) => r.includes('role:slave')).length === masters * replicas &&
      roles.every((r) => !r.includes('role:slave') || r.includes('master_link_status:up'))
    )
      break;
    await sleep(100);
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    stop: async () => Promise.all(nodes.map((n) => n.kill())),
  };
}

type Admin = { cluster(...args: string[]): Promise<unknown> };

/** Whether the node behind `admin` claims `slot` itself (the slot ranges of its `myself` line). */
async function claims(admin: Admin, slot: number): Promise<boolean> {
  const lines = String(await admin.cluster('NODES')).split('\n');
  const mine = lines.find((l) => l.split(' ')[2]?.split(',').includes('myself'));
  return (mine ?? '')
    .split(' ')
    .slice(8)
    .filter((r) => !r.startsWith('['))
    .some((r) => {
      const [from, to = from] = r.split('-').map(Number);
      return slot >= from && slot <= to;
    });
}

/**
 * Which of `nodes` owns `slot`: the one node that claims it itself, once every node's `CLUSTER SLOTS`
 * agrees. One node's view alone can lag a handover under load, and SETSLOT MIGRATING sent on it
 * fails with "I'm not the owner of hash slot".
 */
export async function ownerOf(admins: Admin[], nodes: Proc[], slot: number): Promise<number> {
  let seen = '';
  for (let i = 0; i < 100; i++) {
    const own = (await Promise.all(admins.map((a) => claims(a, slot)))).flatMap((c, n) => (c ? [n] : []));
    const views = await Promise.all(
      admins.map(async (a) => {
        const slots = (await a.cluster('SLOTS')) as Array<[number, number, [string, number, string]]>;
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        return range ? nodes.findIndex((n) => n.port === range[2][1]) : -1;
      }),
    );
    if (own.length === 1 && views.every((v) => v === own[0])) return own[0];
    seen = `claimed by ${JSON.stringify(own)}, views ${JSON.stringify(views)}`;
    await sleep(50);
  }
  throw new Error(`slot ${slot}: the nodes do not agree on its owner (${seen})`);
}
