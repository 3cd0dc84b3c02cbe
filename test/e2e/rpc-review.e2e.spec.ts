import 'reflect-metadata';
import { join } from 'node:path';
import { Controller, type INestMicroservice, Logger, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxy,
  Ctx,
  GrpcMethod,
  GrpcStreamMethod,
  MessagePattern,
  type MicroserviceOptions,
  MqttContext,
  TcpContext,
  Payload,
  Transport,
} from '@nestjs/microservices';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { firstValueFrom, isObservable, lastValueFrom, map, reduce, Subject, type Observable } from 'rxjs';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
import { InProcessTransport } from '../support/in-process-transport';
import { tcpMicroservice } from '../support/rpc-apps';
import { freePort } from '../support/servers';

/*
 * Microservice answers a review found wrong (each failed before its fix).
 */

type GrpcClient = grpc.Client & Record<string, Function>;
async function grpcService(module: Type<unknown>, pkg: string, proto: string, service: string) {
  const protoPath = join(__dirname, '../support/fixtures', proto);
  const port = await freePort();
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(module, {
    transport: Transport.GRPC,
    options: { package: pkg, protoPath, url: `127.0.0.1:${port}` },
    logger: false,
  });
  await app.listen();
  const def = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath)) as unknown as Record<
    string,
    Record<string, new (url: string, c: grpc.ChannelCredentials) => GrpcClient>
  >;
  const client = new def[pkg][service](`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return { app, client };
}

/*
 * A client-streaming gRPC method (@GrpcStreamMethod) receives an Observable of the request messages
 * as its payload. It was keyed as a plain object (`Observable{source: Subject{...}}`), the same for
 * every call before any message was read: every stream got the first stream's answer. Observables,
 * Subjects and other live objects are unkeyable, as Promises are: the call runs uncached, with one
 * warning. (@CacheMemoize on the class, for all its handlers, is how one reaches it without thinking.)
 */
let sumRuns = 0;

@Controller()
@CacheMemoize({ ttl: '1m' })
class SumController {
  @GrpcStreamMethod('SumService', 'Add')
  add(messages: Observable<{ value: number }>): Observable<{ total: number; run: number }> {
    return messages.pipe(
      reduce((a, m) => a + m.value, 0),
      map((total) => ({ total, run: ++sumRuns })),
    );
  }

  @GrpcMethod('SumService', 'Echo')
  echo(data: { value: number }) {
    return { total: data.value, run: ++sumRuns };
  }
}

describe('gRPC client-streaming handler under @CacheMemoize', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [SumController] })
  class SumModule {}
  let service: INestMicroservice;
  let client: GrpcClient;
  const warnings: string[] = [];
  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    ({ app: service, client } = await grpcService(SumModule, 'sums', 'sums.proto', 'SumService'));
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    client.close();
    await service.close();
  });

  const add = (values: number[]) =>
    new Promise<{ total: number; run: number }>((resolve, reject) => {
      const call = client.Add((error: Error | null, value: { total: number; run: number }) =>
        error ? reject(error) : resolve(value),
      ) as grpc.ClientWritableStream<{ value: number }>;
      for (const value of values) call.write({ value });
      call.end();
    });
  const echo = (value: number) =>
    new Promise<{ total: number; run: number }>((resolve, reject) =>
      client.Echo({ value }, (e: Error | null, v: { total: number; run: number }) => (e ? reject(e) : resolve(v))),
    );

  it('unary calls are keyed on their payload and cached', async () => {
    const four = await echo(4);
    expect((await echo(5)).total).toBe(5);
    expect(await echo(4)).toEqual(four);
  });

  it('two streams with different messages get their own totals (run uncached, one warning)', async () => {
    const first = await add([1, 2, 3]);
    const second = await add([10, 20]);
    const again = await add([1, 2, 3]);
    expect([first.total, second.total, again.total]).toEqual([6, 30, 6]);
    expect(again.run).not.toBe(first.run);
    const about = warnings.filter((w) => w.includes('SumController.add'));
    expect(about).toHaveLength(1);
    expect(about[0]).toContain('is a Observable');
  });
});

/*
 * A handler whose answer is a stream that stays open (a server-streaming gRPC method, an Observable
 * feed over TCP) delivered nothing until the stream completed: the interceptor collected every
 * emission first, and every later caller of the key joined it and waited as long. Now a gRPC
 * response stream is passed through uncached (as @Sse is), and any RPC stream still open after its
 * first emission goes to its caller as it emits, uncached, while callers that joined it run their own.
 * Each test completes its feeds after 5 s, a liveness bound (so a failing run ends), not a threshold.
 */
const feeds: Array<Subject<{ sku: string; seq: number }>> = [];
let feedRuns = 0;
function feed(sku: string): Observable<{ sku: string; seq: number }> {
  feedRuns++;
  const ticks = new Subject<{ sku: string; seq: number }>();
  feeds.push(ticks);
  setImmediate(() => ticks.next({ sku, seq: 1 })); // the first tick at once, more later
  return ticks.asObservable();
}
/** Resolves with whether `firstTick` came before the feeds were completed (after 5 s). */
async function beforeRelease(firstTicks: Array<Promise<unknown>>): Promise<boolean[]> {
  let released = false;
  const release = setTimeout(() => {
    released = true;
    for (const f of feeds) f.complete();
  }, 5_000);
  const seen = await Promise.all(firstTicks.map((p) => p.then(() => !released)));
  clearTimeout(release);
  return seen;
}

@Controller()
@CacheMemoize({ ttl: '1m' })
class FeedController {
  @GrpcMethod('PriceFeed', 'Watch')
  watch(data: { sku: string }) {
    return feed(data.sku);
  }

  @GrpcMethod('PriceFeed', 'WatchRaw')
  @CacheMemoize({ skip: () => true })
  watchRaw(data: { sku: string }) {
    return feed(data.sku);
  }

  @MessagePattern('ticks')
  ticks(@Payload() sku: string) {
    return feed(sku);
  }
}

describe('gRPC server-streaming handler under @CacheMemoize', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [FeedController] })
  class FeedModule {}
  let service: INestMicroservice;
  let client: GrpcClient;
  beforeAll(async () => {
    ({ app: service, client } = await grpcService(FeedModule, 'watch', 'watch.proto', 'PriceFeed'));
  });
  afterAll(async () => {
    for (const f of feeds) f.complete();
    client.close();
    await service.close();
  });

  const watch = (method: string) => {
    const call = client[method]({ sku: 'A' }) as grpc.ClientReadableStream<{ seq: number }>;
    call.on('error', () => undefined);
    const first = new Promise((resolve) => call.once('data', resolve));
    return { call, first };
  };

  it('control: the same feed with the cache skipped delivers its first tick at once', async () => {
    const raw = watch('WatchRaw');
    expect(await beforeRelease([raw.first])).toEqual([true]);
    raw.call.cancel();
  });

  it('the first tick reaches every client while the feed is still open', async () => {
    const runs = feedRuns;
    const [a, b] = [watch('Watch'), watch('Watch')];
    expect(await beforeRelease([a.first, b.first])).toEqual([true, true]);
    a.call.cancel();
    b.call.cancel();
    expect(feedRuns).toBe(runs + 2);
  });
});

describe('an Observable feed over TCP under @CacheMemoize', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [FeedController] })
  class TcpFeedModule {}
  let service: INestMicroservice;
  let client: ClientProxy;
  beforeAll(async () => {
    ({ service, client } = await tcpMicroservice(TcpFeedModule));
  });
  afterAll(async () => {
    for (const f of feeds) f.complete();
    client.close();
    await service.close();
  });

  it('goes to its caller as it emits, and a caller that came meanwhile is not held: neither is cached', async () => {
    const runs = feedRuns;
    const first = firstValueFrom(client.send('ticks', 'B'));
    const second = firstValueFrom(client.send('ticks', 'B'));
    expect(await beforeRelease([first, second])).toEqual([true, true]);
    expect(await first).toEqual({ sku: 'B', seq: 1 });
    await firstValueFrom(client.send('ticks', 'B'));
    expect(feedRuns).toBe(runs + 3);
  });
});

/*
 * MQTT 5 carries a request's headers as the packet's user properties
 * (MqttContext.getPacket().properties.userProperties). They were never read: an MQTT request carrying
 * `authorization` was taken as anonymous and its answer shared. Driven in-process through Nest's
 * real RPC pipeline by a custom transport that hands each handler an MqttContext, as ServerMqtt does.
 */
class InProcessMqtt extends InProcessTransport {
  async dispatch(topic: string, data: unknown, userProperties: Record<string, string>): Promise<unknown> {
    const handler = this.getHandlerByPattern(topic);
    if (handler === null) throw new Error(`no handler for ${topic}`);
    const packet = { topic, payload: Buffer.from(JSON.stringify(data)), properties: { userProperties } };
    const result = await handler(data, new MqttContext([topic, packet as never]));
    return isObservable(result) ? lastValueFrom(result) : result;
  }
}

let inboxRuns = 0;
@Controller()
class InboxController {
  @MessagePattern('inbox')
  @CacheMemoize({ ttl: '1m' })
  inbox(@Payload() _q: { page: number }, @Ctx() ctx: MqttContext) {
    inboxRuns++;
    const props = (ctx.getPacket() as { properties: { userProperties: Record<string, string> } }).properties;
    return `inbox of ${props.userProperties.authorization ?? 'nobody'}`;
  }
}

describe('RPC over MQTT 5: authorization in user properties', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [InboxController] })
  class MqttModule {}
  let service: INestMicroservice;
  const strategy = new InProcessMqtt();
  beforeAll(async () => {
    service = await NestFactory.createMicroservice(MqttModule, { strategy, logger: false });
    await service.listen();
  });
  afterAll(() => service.close());

  it("never serves one user's answer to another; anonymous requests share an entry", async () => {
    const alice = await strategy.dispatch('inbox', { page: 1 }, { authorization: 'Bearer alice' });
    const bob = await strategy.dispatch('inbox', { page: 1 }, { authorization: 'Bearer bob' });
    expect(alice).toBe('inbox of Bearer alice');
    expect(bob).toBe('inbox of Bearer bob');
    const runs = inboxRuns;
    expect(await strategy.dispatch('inbox', { page: 1 }, {})).toBe('inbox of nobody');
    expect(await strategy.dispatch('inbox', { page: 1 }, {})).toBe('inbox of nobody');
    expect(inboxRuns).toBe(runs + 1);
  });
});

/*
 * The RPC key held the handler's declared patterns (all of them, for a handler on several), not
 * the one the message came in on: a handler on two patterns answered the second from the first's
 * entry. (A wildcard MQTT or NATS subscription had the same flaw: every topic shared one entry.)
 */
let priceRuns = 0;
@Controller()
class PriceController {
  @MessagePattern(['price.eur', 'price.usd'])
  @CacheMemoize({ ttl: '1m' })
  price(@Payload() sku: string, @Ctx() ctx: TcpContext) {
    priceRuns++;
    return ctx.getPattern() === 'price.eur' ? `${sku}: 10.00 EUR` : `${sku}: 11.00 USD`;
  }
}

describe('RPC key: the pattern a message came in on', () => {
  @Module({ imports: [CacheMemoizeModule.forRoot({})], controllers: [PriceController] })
  class PriceModule {}
  let service: INestMicroservice;
  let client: ClientProxy;
  beforeAll(async () => {
    ({ service, client } = await tcpMicroservice(PriceModule));
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });

  it('one handler on two patterns: each pattern has its own entry, each cached', async () => {
    for (let i = 0; i < 2; i++) {
      expect(await firstValueFrom(client.send('price.eur', 'sku-1'))).toBe('sku-1: 10.00 EUR');
      expect(await firstValueFrom(client.send('price.usd', 'sku-1'))).toBe('sku-1: 11.00 USD');
    }
    expect(priceRuns).toBe(2);
  });
});
