// A separate app instance for the cross-process lock test: boots Nest with a shared store,
// waits for the common start time, fires N concurrent calls on one cold key, prints its runs.
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Module } from '@nestjs/common';
import { CacheMemoize, CacheMemoizeModule, memcachedStore, redisStore } from '../../lib';

const [kind, address, prefix, startAt, calls] = process.argv.slice(2);
/** What the test needs to tell a broken lock from a store that failed (the lock then fails open, by design). */
const seen: string[] = [];

@Injectable()
class Report {
  runs = 0;
  @CacheMemoize({ ttl: '1m', lock: { timeout: '10s' } })
  async build(id: string): Promise<string> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 300));
    return `report-${id}-by-${process.pid}`;
  }
}

@Module({
  imports: [
    CacheMemoizeModule.forRoot({
      // Bounds well above a loaded CI machine's round trips: this test is about the lock, and a store
      // call past its bound runs the method (fail-safe, tested on its own), which would compute twice.
      stores: {
        default:
          kind === 'redis'
            ? redisStore({ url: address, commandTimeout: '5s' })
            : memcachedStore({ servers: address, timeout: '5s' }),
      },
      operationTimeout: '5s',
      prefix,
      onEvent: (event) => {
        if (event.type === 'lock') seen.push(`lock ${event.outcome}`);
        if (event.type === 'error') seen.push(`error ${event.operation}: ${String(event.error)}`);
        if (event.type === 'circuit') seen.push(`circuit ${event.state}`);
      },
    }),
  ],
  providers: [Report],
})
class WorkerModule {}

async function main(): Promise<void> {
  Logger.overrideLogger(false);
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: false });
  const report = app.get(Report);
  const late = Date.now() - Number(startAt);
  if (late > 0) seen.push(`booted ${late} ms late`);
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  const values = await Promise.all(Array.from({ length: Number(calls) }, () => report.build('cold')));
  process.stdout.write(JSON.stringify({ runs: report.runs, values: [...new Set(values)], seen }) + '\n');
  await app.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
