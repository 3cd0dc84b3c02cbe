/*
 * Within grace, a refresh of a microservice handler that answers with an RpcException (its way
 * of saying "deleted" or "forbidden") reaches the client; only failures are covered by the stale
 * answer.
 */
import 'reflect-metadata';
import { Controller, type INestMicroservice, Logger, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { MessagePattern, RpcException, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { CacheMemoize, CacheMemoizeInterceptor, CacheMemoizeModule, memoryStore } from '../../lib';
import { tcpMicroservice } from '../support/rpc-apps';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let deleted = false;

@Controller()
class DocsController {
  @MessagePattern('doc.get')
  @CacheMemoize({ ttl: 150, grace: '1m' })
  async get(id: number) {
    if (deleted) throw new RpcException({ status: 404, message: `doc ${id} deleted` });
    return { id, body: 'secret draft' };
  }
}

describe('RPC handler grace', () => {
  let service: INestMicroservice;
  let client: ClientProxy;
  beforeAll(async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    @Module({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('rvrpc') })],
      controllers: [DocsController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: CacheMemoizeInterceptor }],
    })
    class M {}
    ({ service, client } = await tcpMicroservice(M));
  });
  afterAll(async () => {
    client.close();
    await service.close();
  });

  it('a "deleted" RpcException within grace reaches the client, not the stale answer', async () => {
    const ask = () =>
      firstValueFrom(client.send('doc.get', 7)).then(
        (v) => ({ ok: v }),
        (e: unknown) => ({ error: e }),
      );
    expect(await ask()).toEqual({ ok: { id: 7, body: 'secret draft' } });
    await sleep(300); // stale, within grace
    deleted = true;
    const outcomes = [await ask(), await ask(), await ask()];
    deleted = false;
    expect(outcomes.map((o) => ('error' in o ? 'error' : 'stale answer'))).toEqual(['error', 'error', 'error']);
  });
});
