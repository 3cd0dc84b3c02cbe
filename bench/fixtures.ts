import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, type CacheStore } from 'nestjs-cache-memoize';

/** The object every store benchmark caches: small, with a Date so typed decoding is exercised. */
export const user = (id: number) => ({
  id,
  name: `user ${id}`,
  email: `u${id}@example.com`,
  roles: ['reader', 'writer'],
  createdAt: new Date(1_700_000_000_000),
});

@Injectable()
export class UserService {
  @CacheMemoize({ ttl: '1h' })
  async getUser(id: number): Promise<ReturnType<typeof user>> {
    return user(id);
  }
}

/**
 * A Nest app with UserService on `store`, its `keys` entries written and read once (which, on a
 * tiered store, also fills L1 from L2).
 */
export async function appWith(store: CacheStore, keys: number, prefix = `b${Math.random().toString(36).slice(2, 6)}`) {
  Logger.overrideLogger(false);
  const moduleRef = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: store }, prefix })],
    providers: [UserService],
  }).compile();
  await moduleRef.init();
  const users = moduleRef.get(UserService);
  for (let i = 0; i < keys; i++) await users.getUser(i);
  await new Promise((r) => setTimeout(r, 200)); // let background writes land
  for (let i = 0; i < keys; i++) await users.getUser(i);
  return { moduleRef, users };
}
