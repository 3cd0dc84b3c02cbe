/*
 * An HTTP app and a TCP microservice in one process, each with its own store. The microservice's
 * writer is request-scoped (Nest makes one per message, after bootstrap): its @CacheEvict must
 * bust the microservice's entries, not those of the HTTP app started after it.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Injectable,
  type INestApplication,
  type INestMicroservice,
  Logger,
  Module,
  Scope,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxyFactory,
  MessagePattern,
  Transport,
  type ClientProxy,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { CacheEvict, CacheMemoize, CacheMemoizeModule, memoryStore } from '../../lib';
import { freePort } from '../support/servers';
import { uniquePrefix } from '../support/shared-servers';

let db = 1;

@Injectable()
class OrdersRepo {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: (id: number) => [`order:${id}`] })
  async get(id: number): Promise<string> {
    this.runs++;
    return `order ${id} v${db}`;
  }
}

@Injectable({ scope: Scope.REQUEST })
class OrderWriter {
  @CacheEvict({ tags: (id: number) => [`order:${id}`] })
  async write(id: number, v: number): Promise<void> {
    void id;
    db = v;
  }
}

@Controller()
class OrdersRpc {
  constructor(
    private readonly repo: OrdersRepo,
    private readonly writer: OrderWriter,
  ) {}

  @MessagePattern('order.get')
  get(id: number): Promise<string> {
    return this.repo.get(id);
  }

  @MessagePattern('order.write')
  async write(body: { id: number; v: number }): Promise<string> {
    await this.writer.write(body.id, body.v);
    return 'ok';
  }
}

@Controller('health')
class Health {
  @Get()
  ok(): string {
    return 'ok';
  }
}

describe('an HTTP app and a microservice in one process', () => {
  let service: INestMicroservice;
  let http: INestApplication;
  let client: ClientProxy;
  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('rpc-worker') })],
      controllers: [OrdersRpc],
      providers: [OrdersRepo, OrderWriter],
    })
    class WorkerModule {}
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('rpc-http') })],
      controllers: [Health],
    })
    class HttpModule {}
    const port = await freePort();
    service = await NestFactory.createMicroservice<MicroserviceOptions>(WorkerModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger: false,
    });
    await service.listen();
    http = await NestFactory.create(HttpModule, { logger: false }); // initialized last
    await http.init();
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    await client.connect();
  });
  afterAll(async () => {
    client.close();
    await service.close();
    await http.close();
  });

  it("a message handled by a request-scoped writer busts the microservice's entry", async () => {
    const ask = <T>(pattern: string, data: unknown) => firstValueFrom(client.send<T>(pattern, data));
    expect(await ask('order.get', 1)).toBe('order 1 v1');
    expect(await ask('order.get', 1)).toBe('order 1 v1');
    expect(await ask('order.write', { id: 1, v: 2 })).toBe('ok');
    expect(await ask('order.get', 1)).toBe('order 1 v2');
    expect(service.get(OrdersRepo).runs).toBe(2);
  });
});
