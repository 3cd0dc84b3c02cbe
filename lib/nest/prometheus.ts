import type { CacheMemoizeEngine } from './cache-memoize.engine';
import { optionalRequire } from '../util/optional-require';

interface PromClient {
  register: PromRegistry;
  Counter: new (config: object) => PromMetric;
  Gauge: new (config: object) => PromMetric;
  Histogram: new (config: object) => PromMetric;
}
interface PromRegistry {
  metrics(): Promise<string>;
}
interface PromMetric {
  reset(): void;
  inc(labels: Record<string, string>, value: number): void;
  set(labels: Record<string, string>, value: number): void;
  observe(labels: Record<string, string>, value: number): void;
}

export interface PrometheusOptions {
  /** prom-client registry; default its global one. */
  registry?: PromRegistry;
  /** Metric name prefix. Default 'cache_memoize_'. */
  prefix?: string;
  /** Distinct namespaces reported before the rest are folded into 'other' (bounded cardinality). Default 200. */
  maxNamespaces?: number;
}

/**
 * Prometheus metrics on prom-client (an optional peer). Counters are read from stats() when
 * Prometheus scrapes, so hits cost nothing extra; the computation-time histogram is fed by miss
 * events only. Labels: namespace (bounded), store, result.
 */
export function registerPrometheusMetrics(engine: CacheMemoizeEngine, options: PrometheusOptions = {}): PromRegistry {
  const prom = optionalRequire<PromClient>('prom-client', 'registerPrometheusMetrics()');
  const registry = options.registry ?? prom.register;
  const prefix = options.prefix ?? 'cache_memoize_';
  const max = options.maxNamespaces ?? 200;
  const seen = new Set<string>();
  const label = (namespace: string): string => {
    if (seen.has(namespace)) return namespace;
    if (seen.size >= max) return 'other';
    seen.add(namespace);
    return namespace;
  };
  new prom.Counter({
    name: `${prefix}requests_total`,
    help: 'Memoized calls and cached handler requests, by namespace and result (hit, miss, stale).',
    labelNames: ['namespace', 'result'],
    registers: [registry],
    collect(this: PromMetric) {
      this.reset();
      for (const [ns, c] of Object.entries(engine.stats().byNamespace)) {
        const namespace = label(ns);
        this.inc({ namespace, result: 'hit' }, c.hits);
        this.inc({ namespace, result: 'miss' }, c.misses);
        this.inc({ namespace, result: 'stale' }, c.stale);
      }
    },
  });
  new prom.Counter({
    name: `${prefix}store_requests_total`,
    help: 'Reads per store by result, and store errors.',
    labelNames: ['store', 'result'],
    registers: [registry],
    collect(this: PromMetric) {
      this.reset();
      for (const [store, c] of Object.entries(engine.stats().byStore)) {
        this.inc({ store, result: 'hit' }, c.hits);
        this.inc({ store, result: 'miss' }, c.misses);
        this.inc({ store, result: 'stale' }, c.stale);
        this.inc({ store, result: 'error' }, c.errors);
        this.inc({ store, result: 'tampered' }, c.tampered);
      }
    },
  });
  new prom.Gauge({
    name: `${prefix}hit_ratio`,
    help: 'Hits / reads per namespace since boot.',
    labelNames: ['namespace'],
    registers: [registry],
    collect(this: PromMetric) {
      // Namespaces folded into one label (`other`) are added up before the ratio is taken.
      const byLabel = new Map<string, { hits: number; reads: number }>();
      for (const [ns, c] of Object.entries(engine.stats().byNamespace)) {
        const sum = byLabel.get(label(ns)) ?? { hits: 0, reads: 0 };
        sum.hits += c.hits;
        sum.reads += c.hits + c.misses + c.stale;
        byLabel.set(label(ns), sum);
      }
      for (const [namespace, { hits, reads }] of byLabel) this.set({ namespace }, reads === 0 ? 0 : hits / reads);
    },
  });
  const compute = new prom.Histogram({
    name: `${prefix}compute_duration_seconds`,
    help: 'Time of the computations behind misses (the method or handler itself).',
    labelNames: ['namespace', 'outcome'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  engine.events.subscribe((event) => {
    if (event.type === 'computed') {
      compute.observe(
        { namespace: label(event.owner ?? '(direct)'), outcome: event.ok ? 'ok' : 'error' },
        event.durationMs / 1000,
      );
    }
  });
  return registry;
}
