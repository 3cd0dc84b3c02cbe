import type { CacheStats } from '../types/stats';

/** What the engine uses of OpenTelemetry; undefined when `@opentelemetry/api` is not installed. */
export interface Telemetry {
  traceCompute: <T>(key: string, owner: string | undefined, run: () => Promise<T>) => Promise<T>;
  close(): void;
}

interface OtelApi {
  trace: {
    getTracer(name: string): { startActiveSpan<R>(name: string, options: object, fn: (span: OtelSpan) => R): R };
  };
  metrics: {
    getMeter(name: string): {
      createObservableCounter(name: string, options: object): OtelObservable;
      createObservableGauge(name: string, options: object): OtelObservable;
      addBatchObservableCallback(
        cb: (result: { observe(o: OtelObservable, v: number, attrs?: object): void }) => void,
        observables: OtelObservable[],
      ): void;
      removeBatchObservableCallback(cb: unknown, observables: OtelObservable[]): void;
    };
  };
  SpanStatusCode: { ERROR: number };
}
interface OtelSpan {
  setAttribute(key: string, value: string): void;
  setStatus(status: { code: number; message?: string }): void;
  recordException(error: unknown): void;
  end(): void;
}
type OtelObservable = object;

/** Apps of this process that turned OpenTelemetry on, in the order they were created. */
let apps = 0;

/**
 * OpenTelemetry through `@opentelemetry/api` when it is installed (an optional peer): a span per
 * computation (misses only, so hits pay nothing) and observable counters read from stats() at
 * collection time. Absent the package, nothing is loaded and nothing runs.
 */
export function openTelemetry(stats: () => CacheStats, prefix: string): Telemetry | undefined {
  let api: OtelApi;
  try {
    // An optional peer: loaded only when installed, never a dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    api = require('@opentelemetry/api') as OtelApi;
  } catch {
    return undefined;
  }
  // Two apps in one process (an HTTP app and a worker context) observe the same instruments: without
  // an attribute of their own, the app read last replaced the other's counts (found by review).
  const app = { prefix, app: String(++apps) };
  const tracer = api.trace.getTracer('nestjs-cache-memoize');
  const meter = api.metrics.getMeter('nestjs-cache-memoize');
  const requests = meter.createObservableCounter('cache_memoize.requests', {
    description: 'Memoized calls by result (hit, miss, stale)',
  });
  const errors = meter.createObservableCounter('cache_memoize.errors', { description: 'Cache store errors' });
  const ratio = meter.createObservableGauge('cache_memoize.hit_ratio', { description: 'Hits / reads per namespace' });
  const callback = (result: { observe(o: OtelObservable, v: number, attrs?: object): void }) => {
    for (const [namespace, c] of Object.entries(stats().byNamespace)) {
      result.observe(requests, c.hits, { ...app, namespace, result: 'hit' });
      result.observe(requests, c.misses, { ...app, namespace, result: 'miss' });
      result.observe(requests, c.stale, { ...app, namespace, result: 'stale' });
      result.observe(errors, c.errors, { ...app, namespace });
      result.observe(ratio, c.hitRatio, { ...app, namespace });
    }
  };
  meter.addBatchObservableCallback(callback, [requests, errors, ratio]);
  return {
    traceCompute: (key, owner, run) =>
      tracer.startActiveSpan(`cache_memoize.compute ${owner ?? key}`, {}, async (span) => {
        span.setAttribute('cache.key', key);
        if (owner !== undefined) span.setAttribute('cache.namespace', owner);
        try {
          return await run();
        } catch (error) {
          span.recordException(error);
          span.setStatus({
            code: api.SpanStatusCode.ERROR,
            message: error instanceof Error ? error.message : String(error),
          });
          throw error;
        } finally {
          span.end();
        }
      }),
    close: () => meter.removeBatchObservableCallback(callback, [requests, errors, ratio]),
  };
}
