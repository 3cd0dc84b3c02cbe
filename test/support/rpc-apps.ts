import { join } from 'node:path';
import type { INestMicroservice, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, Transport, type ClientProxy, type MicroserviceOptions } from '@nestjs/microservices';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { freePort } from './servers';

/** `module` as a TCP microservice on a free loopback port, and a client connected to it. */
export async function tcpMicroservice(module: Type): Promise<{ service: INestMicroservice; client: ClientProxy }> {
  const port = await freePort();
  const service = await NestFactory.createMicroservice<MicroserviceOptions>(module, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
    logger: false,
  });
  await service.listen();
  const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  await client.connect();
  return { service, client };
}

export type HeroesClient = grpc.Client & Record<string, Function>;

/** `module` serving fixtures/heroes.proto over gRPC on a free loopback port, and a client of it. */
export async function grpcHeroes(module: Type): Promise<{ service: INestMicroservice; client: HeroesClient }> {
  const protoPath = join(__dirname, 'fixtures/heroes.proto');
  const port = await freePort();
  const service = await NestFactory.createMicroservice<MicroserviceOptions>(module, {
    transport: Transport.GRPC,
    options: { package: 'heroes', protoPath, url: `127.0.0.1:${port}` },
    logger: false,
  });
  await service.listen();
  const definition = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath)) as unknown as {
    heroes: { HeroService: new (url: string, creds: grpc.ChannelCredentials) => HeroesClient };
  };
  return { service, client: new definition.heroes.HeroService(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) };
}
