/*
 * A message handler whose stream emits and then errors in the same turn (from review): without the
 * cache the caller gets the values, then the error; the interceptor rejected at once, and the
 * values were lost. The caller that ran it now gets them, then the error (uncached), unless an expired
 * answer stands in (staleIfError, grace).
 */
import 'reflect-metadata';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { BaseRpcContext, MessagePattern, Payload, RpcException } from '@nestjs/microservices';
import { concat, isObservable, of, throwError, type Observable } from 'rxjs';
import { CacheMemoize, CacheMemoizeModule, memcachedStore, memoryStore, type CacheStore } from '../../lib';
import { InProcessTransport } from '../support/in-process-transport';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

/** A transport that calls handlers in-process and collects every emission, then the error. */
class InProcess extends InProcessTransport {
  async dispatch(pattern: string, data: unknown): Promise<{ values: unknown[]; error?: unknown }> {
    const handler = this.getHandlerByPattern(pattern)!;
    const values: unknown[] = [];
    try {
      const result: unknown = await handler(data, new BaseRpcContext([pattern]));
      if (!isObservable(result)) return { values: [result] };
      await new Promise<void>((resolve, reject) =>
        (result as Observable<unknown>).subscribe({ next: (v) => values.push(v), error: reject, complete: resolve }),
      );
      return { values };
    } catch (error) {
      return { values, error };
    }
  }
}

let runs = 0;

@Controller()
class Feed {
  @MessagePattern('partial')
  @CacheMemoize({ ttl: '1m' })
  partial(@Payload() id: number) {
    runs++;
    return concat(
      of(id, id + 1),
      throwError(() => new RpcException('mid-stream')),
    );
  }

  @MessagePattern('partial-uncached')
  partialUncached(@Payload() id: number) {
    return concat(
      of(id, id + 1),
      throwError(() => new RpcException('mid-stream')),
    );
  }

  /** Emits its values; from the second run on, fails after them. */
  @MessagePattern('flaky')
  @CacheMemoize({ ttl: 40, staleIfError: '1m' })
  flaky(@Payload() id: number) {
    return ++runs === 1
      ? of(id, id + 1)
      : concat(
          of(-id),
          throwError(() => new RpcException('mid-stream')),
        );
  }

  @MessagePattern('holes')
  @CacheMemoize({ ttl: '1m' })
  holes(@Payload() list: unknown[]) {
    return { first: 0 in list ? 'present' : 'hole' };
  }
}

describe.each([
  ['memory', (): CacheStore => memoryStore()],
  ['memcached', (): CacheStore => memcachedStore({ servers: sharedServers().memcached[0] })],
])('message handlers on %s', (_name, make) => {
  let app: INestMicroservice;
  const transport = new InProcess();
  beforeAll(async () => {
    @Module({
      imports: [CacheMemoizeModule.forRoot({ prefix: uniquePrefix('rpcpartial'), stores: { default: make() } })],
      controllers: [Feed],
    })
    class AppModule {}
    app = await NestFactory.createMicroservice(AppModule, { strategy: transport, logger: false });
    await app.listen();
  });
  afterAll(() => app.close());

  it('a stream that emits, then errors in the same turn: every caller gets the values, then the error; nothing cached', async () => {
    runs = 0;
    const without = await transport.dispatch('partial-uncached', 1);
    expect(without).toEqual({ values: [1, 2], error: { status: 'error', message: 'mid-stream' } });
    expect(await transport.dispatch('partial', 1)).toEqual(without);
    expect(await transport.dispatch('partial', 1)).toEqual(without);
    expect(runs).toBe(2);
  });

  it('with staleIfError, such a run stands down for the expired answer (review: it went to the caller)', async () => {
    runs = 0;
    expect(await transport.dispatch('flaky', 5)).toEqual({ values: [5, 6] });
    await new Promise((r) => setTimeout(r, 80)); // past its ttl
    expect(await transport.dispatch('flaky', 5)).toEqual({ values: [5, 6] });
    expect(runs).toBe(2);
  });

  it('a payload with a hole and one with undefined there get their own answers', async () => {
    // eslint-disable-next-line no-sparse-arrays
    expect((await transport.dispatch('holes', [, 1])).values).toEqual([{ first: 'hole' }]);
    expect((await transport.dispatch('holes', [undefined, 1])).values).toEqual([{ first: 'present' }]);
  });
});
