import 'reflect-metadata';
import { trace, metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Controller, Get, Injectable, Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Registry } from 'prom-client';
import request from 'supertest';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeHealthIndicator,
  CacheMemoizeModule,
  cacheHandle,
  InvalidationService,
  memoryStore,
  redisStore,
  registerPrometheusMetrics,
  type CacheEvent,
  type CacheHookInfo,
} from '../../lib';
import { RedisServer } from '../support/servers';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const calls: Array<[string, CacheHookInfo]> = [];
const record = (name: string) => (info: CacheHookInfo) => void calls.push([name, info]);

@Injectable()
class PriceService {
  // ttl: the second call comes within it, on a loaded machine too
  @CacheMemoize({ ttl: 600, grace: '1m', onHit: record('method.onHit') })
  async price(sku: string, currency: string): Promise<number> {
    return sku.length * 10 + currency.length;
  }

  @CacheMemoize({ ttl: '1m', lock: true })
  async rates(): Promise<number[]> {
    return [1, 2];
  }

  @CacheMemoize({
    ttl: '1m',
    onMiss: () => {
      throw new Error('hook bug');
    },
  })
  async fragile(n: number): Promise<number> {
    return n * 2;
  }
}

@Controller()
class PriceController {
  @Get('quote')
  @CacheMemoize({ ttl: '1m' })
  quote() {
    return { quote: 42 };
  }
}

// OpenTelemetry SDK wired before the apps start, as an app would in its tracing bootstrap.
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}
const reader = new TestReader();
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));

describe('observability, on a real Redis', () => {
  let redis: RedisServer;
  let app: TestingModule;
  let events: CacheEvent[];
  let errorLogs: jest.SpyInstance;

  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    errorLogs = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    redis = await RedisServer.launch();
    app = await Test.createTestingModule({
      imports: [
        CacheMemoizeModule.forRoot({
          stores: { default: redisStore({ url: redis.url }) },
          prefix: uniquePrefix('obs'),
          hooks: {
            onHit: record('module.onHit'),
            onMiss: record('module.onMiss'),
            onStale: record('module.onStale'),
            onError: record('module.onError'),
          },
          exposeKeyHeader: true,
        }),
      ],
      providers: [PriceService],
      controllers: [PriceController],
    }).compile();
    await app.init();
    events = [];
    app.get(CacheMemoizeEngine).events.subscribe((e) => events.push(e));
  });
  afterAll(async () => {
    await app.close();
    await redis.stop();
    jest.restoreAllMocks();
  });

  it('hooks: called with key, method and arguments; the decorator wins; a throwing hook never breaks the call', async () => {
    const prices = app.get(PriceService);
    expect(await prices.price('ab', 'EUR')).toBe(23);
    await settle(app);
    expect(await prices.price('ab', 'EUR')).toBe(23);
    const miss = calls.find(([n]) => n === 'module.onMiss')![1];
    expect(miss).toMatchObject({
      method: 'PriceService.price',
      args: ['ab', 'EUR'],
      store: 'default',
      key: expect.stringContaining('PriceService.price'),
    });
    expect(calls.some(([n]) => n === 'method.onHit')).toBe(true); // the decorator's onHit
    expect(calls.some(([n]) => n === 'module.onHit')).toBe(false); // ... replaces the module's
    await sleep(650); // past ttl, within grace
    expect(await prices.price('ab', 'EUR')).toBe(23);
    expect(calls.some(([n, i]) => n === 'module.onStale' && i.method === 'PriceService.price')).toBe(true);

    expect(await prices.fragile(2)).toBe(4);
    expect(
      errorLogs.mock.calls.some((c) => String(c[0]).includes('onMiss hook of PriceService.fragile threw: hook bug')),
    ).toBe(true);
  });

  it('events and stats(): hit, miss, stale, set, invalidate, lock; counters per method and per store', async () => {
    const prices = app.get(PriceService);
    await prices.rates();
    await settle(app);
    await prices.rates();
    await app.get(InvalidationService).invalidateTags(['fx']);
    const types = new Set(events.map((e) => e.type));
    for (const t of ['hit', 'miss', 'stale', 'set', 'invalidate', 'lock', 'computed']) expect(types).toContain(t);
    const stats = app.get(CacheMemoizeEngine).stats();
    expect(stats.byNamespace['PriceService.rates']).toMatchObject({ hits: 1, misses: 1, hitRatio: 0.5 });
    expect(stats.byNamespace['PriceService.price'].stale).toBe(1);
    expect(stats.byStore.default.hits).toBeGreaterThanOrEqual(2);
    expect(stats.total.misses).toBeGreaterThanOrEqual(3);
  });

  it('Prometheus: counters, hit ratio and the computation histogram', async () => {
    const registry = new Registry();
    registerPrometheusMetrics(app.get(CacheMemoizeEngine), { registry });
    await app.get(PriceService).price('new', 'USD');
    const text = await registry.metrics();
    expect(text).toMatch(/cache_memoize_requests_total\{namespace="PriceService.rates",result="hit"\} 1/);
    expect(text).toMatch(/cache_memoize_store_requests_total\{store="default",result="miss"\} \d+/);
    expect(text).toMatch(/cache_memoize_hit_ratio\{namespace="PriceService.rates"\} 0.5/);
    expect(text).toMatch(
      /cache_memoize_compute_duration_seconds_count\{namespace="PriceService.price",outcome="ok"\} 1/,
    );
  });

  it('OpenTelemetry: a span per computation, counters from stats', async () => {
    await app.get(PriceService).price('otel', 'GBP');
    expect(spans.getFinishedSpans().some((s) => s.name === 'cache_memoize.compute PriceService.price')).toBe(true);
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
    const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
    expect(names).toEqual(expect.arrayContaining(['cache_memoize.requests', 'cache_memoize.hit_ratio']));
  });

  it('explain() and X-Cache-Key show the key a call uses and whether it is cached', async () => {
    const handle = cacheHandle(app.get(PriceService), 'rates');
    await handle.invalidate();
    expect(await handle.explain()).toMatchObject({ method: 'PriceService.rates', store: 'default', state: 'miss' }); // invalidated above
    await app.get(PriceService).rates();
    await settle(app);
    const explained = await handle.explain();
    expect(explained.state).toBe('fresh');
    expect(explained.key).toBe(handle.keyOf());
    expect(Number.isInteger(explained.expiresAt)).toBe(true); // a date: whole milliseconds
    const left = explained.expiresAt! - Date.now(); // ttl 1m, on the wall clock's scale
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(61_000);
    const http = app.createNestApplication({ logger: false });
    await http.init();
    const res = await request(http.getHttpServer()).get('/quote').expect(200);
    expect(res.headers['x-cache-key']).toMatch(/:PriceController\.quote:0:/);
    // Module hooks apply to handlers too, with the request as the argument.
    expect(calls.some(([n, i]) => n === 'module.onMiss' && i.method === 'PriceController.quote')).toBe(true);
    // (not closed: it shares the module's providers, and closing would shut the stores down)
  });

  it('health: up with latency while Redis answers; down once it is killed; onError hooks fire', async () => {
    const health = app.get(CacheMemoizeHealthIndicator);
    expect((await health.isHealthy('default'))['cache:default']).toMatchObject({
      status: 'up',
      kind: 'redis',
      circuit: 'closed',
    });
    await redis.kill();
    expect(await app.get(PriceService).price('down', 'EUR')).toBe(43);
    expect((await health.isHealthy('default', { timeoutMs: 300 }))['cache:default'].status).toBe('down');
    expect(calls.some(([n, i]) => n === 'module.onError' && i.method === 'PriceService.price')).toBe(true);
    for (let i = 0; i < 5; i++) await app.get(PriceService).price(`x${i}`, 'EUR');
    expect(events.some((e) => e.type === 'circuit' && e.state === 'open')).toBe(true);
    await redis.start();
  });
});

@Injectable()
class Folded {
  @CacheMemoize({ ttl: '1m' }) async a(x: number) {
    return x;
  }
  @CacheMemoize({ ttl: '1m' }) async b(x: number) {
    return x;
  }
  @CacheMemoize({ ttl: '1m' }) async c(x: number) {
    return x;
  }
}

describe('Prometheus: namespaces folded into "other" (maxNamespaces)', () => {
  // Before the fix, each folded namespace overwrote the gauge: "other" showed the last one's ratio.
  it('hit_ratio{namespace="other"} is the ratio of everything folded there', async () => {
    const app = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('fold') })],
      providers: [Folded],
    }).compile();
    await app.init();
    try {
      const s = app.get(Folded);
      await s.a(1); // a: 1 miss
      for (let i = 0; i < 9; i++) await s.b(1); // b: 1 miss, 8 hits
      await s.c(1); // c: 1 miss
      const registry = new Registry();
      registerPrometheusMetrics(app.get(CacheMemoizeEngine), { registry, maxNamespaces: 1 });
      const lines = (await registry.metrics()).split('\n').filter((l) => l.startsWith('cache_memoize_hit_ratio{'));
      // The first namespace keeps its label; b and c together: 8 hits of 10 reads.
      expect(lines).toEqual([
        'cache_memoize_hit_ratio{namespace="Folded.a"} 0',
        'cache_memoize_hit_ratio{namespace="other"} 0.8',
      ]);
    } finally {
      await app.close();
    }
  });
});
