import 'reflect-metadata';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Injectable, Logger } from '@nestjs/common';
import { CacheMemoize, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';

/*
 * Two apps in one process (an HTTP app and a worker context from one main.ts) observe the same
 * OpenTelemetry instruments. Found by review: with the same attributes, the app read last replaced
 * the other's counts (hit 0 instead of 9), and a counter jumped 0 → 9 when that app closed.
 */

class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));

@Injectable()
class Users {
  @CacheMemoize({ ttl: '1h' })
  async get(id: number): Promise<number> {
    return id;
  }
}

const boot = (prefix: string) => appOn(memoryStore(), prefix, [Users]);

/** cache_memoize.requests as `prefix/app/namespace/result` → value. */
async function requests(): Promise<Record<string, number>> {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  const out: Record<string, number> = {};
  for (const m of resourceMetrics.scopeMetrics.flatMap((s) => s.metrics))
    if (m.descriptor.name === 'cache_memoize.requests')
      for (const p of m.dataPoints) {
        const { prefix, app, namespace, result } = p.attributes;
        out[`${String(prefix)}/${String(app)}/${String(namespace)}/${String(result)}`] = p.value as number;
      }
  return out;
}

it('each app of the process reports its own series (prefix and app attributes)', async () => {
  const http = await boot('http');
  const worker = await boot('worker');
  try {
    for (let i = 0; i < 10; i++) await http.get(Users).get(1); // 1 miss, 9 hits
    await worker.get(Users).get(1); // 1 miss
    const seen = await requests();
    const [httpApp] = Object.keys(seen)
      .filter((k) => k.startsWith('http/'))
      .map((k) => k.split('/')[1]);
    const [workerApp] = Object.keys(seen)
      .filter((k) => k.startsWith('worker/'))
      .map((k) => k.split('/')[1]);
    expect(httpApp).not.toBe(workerApp);
    expect(seen).toMatchObject({
      [`http/${httpApp}/Users.get/hit`]: 9,
      [`http/${httpApp}/Users.get/miss`]: 1,
      [`worker/${workerApp}/Users.get/hit`]: 0,
      [`worker/${workerApp}/Users.get/miss`]: 1,
    });
    await worker.close();
    expect((await requests())[`http/${httpApp}/Users.get/hit`]).toBe(9); // unchanged by the other closing
  } finally {
    await http.close();
  }
});
