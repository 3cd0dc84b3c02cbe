// The HTTP benchmark's two apps (bench/http-server.ts) in one process, without sockets: each request
// is injected (light-my-request, as Fastify's `inject`), so a case's time is the CPU the framework,
// Nest and the cache spend on it, with no load generator on the same cores and no kernel writes.
//   node -r ts-node/register/transpile-only bench/http-inproc.ts <express|fastify> [library build dir]
// Prints one JSON line: microseconds per request for each case (see measure()).
import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import type { INestApplication } from '@nestjs/common';
import inject from 'light-my-request';
import { median } from './harness';
import type * as HttpServer from './http-server';
import type { BenchApp } from './http-server';

const adapter = process.argv[2] as 'express' | 'fastify';
if (process.argv[3] !== undefined) process.env.BENCH_LIB = process.argv[3];
// After BENCH_LIB is set: http-server.ts loads the library when it is first required.
const { createBenchApp } = require('./http-server') as typeof HttpServer;

export interface InprocCase {
  name: string;
  app: BenchApp;
  path: string;
}

type Send = (path: string) => Promise<{ statusCode: number }>;

async function sender(app: INestApplication): Promise<Send> {
  await app.init();
  const instance = app.getHttpAdapter().getInstance() as
    | ((req: unknown, res: unknown) => void)
    | { ready(): Promise<unknown>; inject(o: object): Promise<{ statusCode: number }> };
  if (typeof instance === 'function') return (url) => inject(instance, { method: 'GET', url });
  await instance.ready();
  return (url) => instance.inject({ method: 'GET', url });
}

/**
 * `requests` per case per round, cases interleaved (every other round reversed). This machine's
 * speed drifts by tens of percent over seconds, so each case's time is divided by the reference
 * case's time in the same round (a fraction of a second apart) before the median is taken: the
 * result is the reference's median time times the case's median ratio to it.
 */
async function measure(cases: InprocCase[], send: Record<BenchApp, Send>, rounds: number, requests: number) {
  const one = async (c: InprocCase) => {
    const response = await send[c.app](c.path);
    if (response.statusCode !== 200) throw new Error(`${c.app} GET ${c.path}: ${response.statusCode}`);
  };
  for (const c of cases) for (let i = 0; i < requests * 4; i++) await one(c);
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
      const started = performance.now();
      for (let i = 0; i < requests; i++) await one(c);
      times.get(c.name)!.push(((performance.now() - started) * 1000) / requests);
    }
  }
  const reference = times.get(cases[0].name)!;
  const base = median(reference);
  return Object.fromEntries(
    cases.map((c) => [c.name, base * median(times.get(c.name)!.map((t, round) => t / reference[round]))]),
  );
}

async function main(): Promise<void> {
  const cases = JSON.parse(process.env.INPROC_CASES!) as InprocCase[];
  const apps = {
    ours: await createBenchApp('ours', adapter),
    'cache-manager': await createBenchApp('cache-manager', adapter),
  };
  const send = { ours: await sender(apps.ours), 'cache-manager': await sender(apps['cache-manager']) };
  const micros = await measure(cases, send, Number(process.env.INPROC_ROUNDS ?? 60), 400);
  process.stdout.write(`${JSON.stringify(micros)}\n`);
  await Promise.all([apps.ours.close(), apps['cache-manager'].close()]);
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
