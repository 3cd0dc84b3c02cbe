import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../test/support/servers';
import { printTable } from './harness';
import type { InprocCase } from './http-inproc';

export type HttpAdapterName = 'express' | 'fastify';

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
}

/** bench/http-server.ts in a child process: `which` app on `adapter`, serving `libDir` (a build) or this checkout's source. */
export async function startHttpServer(
  which: 'ours' | 'cache-manager',
  adapter: HttpAdapterName,
  libDir?: string,
): Promise<Server> {
  const port = await freePort();
  const args = [join(__dirname, 'http-server.ts'), which, String(port), adapter, ...(libDir ? [libDir] : [])];
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], {
    env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '../tsconfig.json') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) =>
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
  );
  return { name: which, port, child };
}

/**
 * Requests per second (autocannon's average) over `seconds`, 50 connections x 4 pipelined, and
 * the server's CPU time per request (user + system, read from the server before and after).
 */
export async function requestsPerSecond(
  port: number,
  path: string,
  seconds: number,
): Promise<{ rps: number; cpuPerRequest: number }> {
  const cpu = async () => {
    const used = (await (await fetch(`http://127.0.0.1:${port}/cpu`)).json()) as { user: number; system: number };
    return used.user + used.system;
  };
  const before = await cpu();
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    connections: 50,
    duration: seconds,
    pipelining: 4,
  });
  const used = (await cpu()) - before;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`GET ${path}: ${result.non2xx} non-2xx responses, ${result.errors} errors`);
  return { rps: result.requests.average, cpuPerRequest: used / result.requests.total };
}

export interface HttpCase {
  name: string;
  port: number;
  path: string;
}

export interface HttpResults {
  /** Requests per second. */
  rps: Array<{ name: string; opsPerSec: number }>;
  /** Requests per second of server CPU time (user + system): what the server alone costs, whatever CPU it got. */
  perCpuSecond: Array<{ name: string; opsPerSec: number }>;
}

/**
 * Each case 3 s per round, all cases interleaved (every other round in reverse order), 5 rounds
 * after a 1 s warm-up of each; the median round per case.
 */
export async function measureHttp(cases: HttpCase[], rounds = 5): Promise<HttpResults> {
  for (const c of cases) await requestsPerSecond(c.port, c.path, 1);
  const samples = new Map<string, Array<{ rps: number; cpuPerRequest: number }>>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) samples.get(c.name)!.push(await requestsPerSecond(c.port, c.path, 3));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return {
    rps: cases.map((c) => ({ name: c.name, opsPerSec: median(samples.get(c.name)!.map((s) => s.rps)) })),
    perCpuSecond: cases.map((c) => ({
      name: c.name,
      opsPerSec: 1e6 / median(samples.get(c.name)!.map((s) => s.cpuPerRequest)),
    })),
  };
}

/** Both tables: req/s, and requests per second of server CPU (the figure the machine's other load disturbs least). */
export function printHttp(title: string, results: HttpResults, ratios: Record<string, string>): void {
  printTable(`${title}, req/s`, results.rps, ratios);
  printTable(`${title}, requests per server CPU-second`, results.perCpuSecond, ratios);
}

/** The ratios both HTTP benchmarks print, from the cases' names. */
const HTTP_RATIOS = {
  'cached / uncached (ours, >= 1.0)': 'ours cached /cached / ours uncached /plain',
  'pass-through interceptor / uncached': 'ours pass-through interceptor / ours uncached /plain',
  'of(body) interceptor / uncached (hit floor)': 'ours interceptor answering of(body) / ours uncached /plain',
  'no interceptor machinery / uncached (any hit floor)':
    'ours body without interceptor machinery / ours uncached /plain',
  '8 KB ours / cache-manager (>= 1.2)': 'ours cached 8 KB /big / cache-manager cached 8 KB /big',
  'trivial ours / cache-manager': 'ours cached /cached / cache-manager cached /cached',
  'uncached control (same code)': 'ours uncached /plain / cache-manager uncached /plain',
};

/** The cases of both HTTP benchmarks: which app, which route. */
const HTTP_CASES: InprocCase[] = [
  { name: 'ours uncached /plain', app: 'ours', path: '/plain' }, // first: the in-process benchmark's reference
  { name: 'ours cached /cached', app: 'ours', path: '/cached' },
  { name: 'ours pass-through interceptor', app: 'ours', path: '/pass-through' },
  { name: 'ours interceptor answering of(body)', app: 'ours', path: '/constant' },
  { name: 'ours body without interceptor machinery', app: 'ours', path: '/bypassed' },
  { name: 'ours cached 8 KB /big', app: 'ours', path: '/big' },
  { name: 'cache-manager cached 8 KB /big', app: 'cache-manager', path: '/big' },
  { name: 'cache-manager cached /cached', app: 'cache-manager', path: '/cached' },
  { name: 'cache-manager uncached /plain', app: 'cache-manager', path: '/plain' },
];

/**
 * Two identical Nest apps per adapter (Express, Fastify), each in its own process — ours vs
 * @nestjs/cache-manager's CacheInterceptor — driven by autocannon, cases interleaved, medians
 * reported. Targets (#17): a cached trivial GET >= 1.0x the same app's uncached route; a cached
 * 8 KB JSON GET >= 1.2x @nestjs/cache-manager. The uncached route behind an interceptor that does
 * nothing shows what Nest's interceptor machinery costs a route; one behind an interceptor that
 * answers `of(body)` without the handler, the floor under any interceptor's cache hit; and a body
 * handed back with Nest's interceptor machinery skipped (patched in that server process only), the
 * floor under any hit served after guards however it was wired.
 */
export async function httpBench(): Promise<void> {
  for (const adapter of ['express', 'fastify'] as const) {
    const [ours, theirs] = [await startHttpServer('ours', adapter), await startHttpServer('cache-manager', adapter)];
    try {
      const results = await measureHttp(
        HTTP_CASES.map((c) => ({ name: c.name, port: (c.app === 'ours' ? ours : theirs).port, path: c.path })),
      );
      printHttp(`HTTP on ${adapter}, 50 connections x 4 pipelined, median of 5 x 3 s`, results, HTTP_RATIOS);
      if (adapter === 'express') await coldBurst([ours, theirs]);
    } finally {
      ours.child.kill();
      theirs.child.kill();
    }
  }
}

async function coldBurst(servers: Server[]): Promise<void> {
  console.log('\n200 concurrent cold requests on one key, handler takes 20 ms (Express)');
  for (const s of servers) {
    const before = (await (await fetch(`http://127.0.0.1:${s.port}/runs`)).json()) as { coldRuns: number };
    const started = performance.now();
    await autocannon({ url: `http://127.0.0.1:${s.port}/cold/${Date.now()}`, connections: 200, amount: 200 });
    const ms = performance.now() - started;
    const after = (await (await fetch(`http://127.0.0.1:${s.port}/runs`)).json()) as { coldRuns: number };
    console.log(
      `  ${s.name.padEnd(28)} handler runs: ${after.coldRuns - before.coldRuns}, all served in ${ms.toFixed(0)} ms`,
    );
  }
}

/**
 * The same cases and ratios, both apps in one process per adapter, requests injected without
 * sockets (bench/http-inproc.ts): the CPU each route costs the framework, Nest and the cache, free
 * of the load generator (which shares this machine's cores in `http`) and of the kernel's writes
 * (a cost every route pays alike, so ratios here sit further from 1 than over a socket).
 */
export async function httpInprocBench(): Promise<void> {
  for (const adapter of ['express', 'fastify'] as const) {
    const micros = await inprocRun(adapter);
    const results = HTTP_CASES.map((c) => ({ name: c.name, opsPerSec: 1e6 / micros[c.name] }));
    printTable(
      `HTTP on ${adapter}, in process (injected, no sockets), requests per second of one thread, 60 rounds x 400, paired per round with the uncached route`,
      results,
      HTTP_RATIOS,
    );
    const plain = micros['ours uncached /plain'];
    console.log('  microseconds per request (and beyond the uncached route):');
    for (const c of HTTP_CASES) {
      const us = micros[c.name];
      console.log(
        `    ${c.name.padEnd(42)} ${us.toFixed(1).padStart(7)} us  ${(us - plain >= 0 ? '+' : '') + (us - plain).toFixed(1)} us`,
      );
    }
  }
}

/** One child process (a fresh heap) serving both apps on `adapter`; microseconds per request per case. */
export async function inprocRun(
  adapter: HttpAdapterName,
  libDir?: string,
  cases: InprocCase[] = HTTP_CASES,
): Promise<Record<string, number>> {
  const args = [join(__dirname, 'http-inproc.ts'), adapter, ...(libDir ? [libDir] : [])];
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], {
    env: {
      ...process.env,
      TS_NODE_PROJECT: join(__dirname, '../tsconfig.json'),
      INPROC_CASES: JSON.stringify(cases),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`bench/http-inproc.ts ${adapter} exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
}
