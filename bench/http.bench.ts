import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../test/support/servers';

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
}

async function start(which: 'ours' | 'cache-manager'): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(__dirname, 'http-server.ts'), which, String(port)],
    {
      env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '../tsconfig.json') },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve) =>
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
  );
  return { name: which, port, child };
}

async function load(port: number, path: string, seconds: number): Promise<{ rps: number; p99: number }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}${path}`,
    connections: 50,
    duration: seconds,
    pipelining: 4,
  });
  return { rps: result.requests.average, p99: result.latency.p99 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Two identical Nest apps, each in its own process — ours vs @nestjs/cache-manager's
 * CacheInterceptor — driven by autocannon in alternation (A B A B ...), medians reported.
 */
export async function httpBench(): Promise<void> {
  const [ours, theirs] = [await start('ours'), await start('cache-manager')];
  try {
    for (const path of ['/cached', '/plain']) {
      for (const s of [ours, theirs]) await load(s.port, path, 1); // warm-up
      const samples = {
        ours: [] as Array<{ rps: number; p99: number }>,
        theirs: [] as Array<{ rps: number; p99: number }>,
      };
      for (let round = 0; round < 5; round++) {
        samples.ours.push(await load(ours.port, path, 3));
        samples.theirs.push(await load(theirs.port, path, 3));
      }
      const o = { rps: median(samples.ours.map((s) => s.rps)), p99: median(samples.ours.map((s) => s.p99)) };
      const t = { rps: median(samples.theirs.map((s) => s.rps)), p99: median(samples.theirs.map((s) => s.p99)) };
      console.log(
        `\nGET ${path} (${path === '/cached' ? 'cached response' : 'uncached trivial route'}), 50 connections x 4 pipelined, median of 5 x 3 s`,
      );
      console.log(
        `  ours                         ${Math.round(o.rps).toLocaleString('en-US').padStart(8)} req/s   p99 ${o.p99} ms`,
      );
      console.log(
        `  @nestjs/cache-manager        ${Math.round(t.rps).toLocaleString('en-US').padStart(8)} req/s   p99 ${t.p99} ms`,
      );
      console.log(
        `  ratio ours / cache-manager   ${(o.rps / t.rps).toFixed(2)}x${path === '/cached' ? ' (target >= 1.0)' : ''}`,
      );
    }
    console.log('\n200 concurrent cold requests on one key, handler takes 20 ms');
    for (const s of [ours, theirs]) {
      const before = (await (await fetch(`http://127.0.0.1:${s.port}/runs`)).json()) as { coldRuns: number };
      const started = performance.now();
      await autocannon({ url: `http://127.0.0.1:${s.port}/cold/${Date.now()}`, connections: 200, amount: 200 });
      const ms = performance.now() - started;
      const after = (await (await fetch(`http://127.0.0.1:${s.port}/runs`)).json()) as { coldRuns: number };
      console.log(
        `  ${s.name.padEnd(28)} handler runs: ${after.coldRuns - before.coldRuns}, all served in ${ms.toFixed(0)} ms`,
      );
    }
  } finally {
    ours.child.kill();
    theirs.child.kill();
  }
}
