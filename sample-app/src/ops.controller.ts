import { Controller, Get, Header, type OnModuleInit } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { CacheMemoizeEngine, CacheMemoizeHealthIndicator, registerPrometheusMetrics } from 'nestjs-cache-memoize';
import { Registry } from 'prom-client';

/** /metrics for Prometheus and /health for load balancers (terminus). */
@Controller()
export class OpsController implements OnModuleInit {
  private readonly registry = new Registry();

  constructor(
    private readonly engine: CacheMemoizeEngine,
    private readonly health: HealthCheckService,
    private readonly cacheHealth: CacheMemoizeHealthIndicator,
  ) {}

  onModuleInit(): void {
    registerPrometheusMetrics(this.engine, { registry: this.registry });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.cacheHealth.all({ timeoutMs: 500 })]);
  }
}
