import 'reflect-metadata';
import { join } from 'node:path';
import { Controller, type INestMicroservice, Logger, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GrpcMethod, GrpcStreamMethod, type MicroserviceOptions, Transport } from '@nestjs/microservices';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { map, reduce, type Observable } from 'rxjs';
import { CacheMemoize, CacheMemoizeModule } from '../../lib';
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
