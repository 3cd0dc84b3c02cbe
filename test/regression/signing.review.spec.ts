/**
 * Adversarial review of signed entries (issue 18): what someone who can write to the shared store
 * can still make an instance serve, and how refused entries are reported.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeEngine,
  CacheMemoizeModule,
  InvalidationService,
  cacheHandle,
  redisStore,
  taggedJsonSerializer,
  type CacheEvent,
  type CacheStore,
} from '../../lib';
import { buildEnvelope } from '../../lib/codec/envelope';
import { sharedServers, uniquePrefix } from '../support/shared-servers';
import { written as entryWritten } from '../support/written';

const servers = sharedServers();
const SECRET = 'a-long-enough-secret-0001';

@Injectable()
class Permissions {
  runs = 0;
  @CacheMemoize({ ttl: '1h', tags: (user: string) => [`user:${user}`] })
  async of(user: string): Promise<{ user: string; role: string; run: number }> {
    this.runs++;
    return { user, role: Permissions.roles.get(user) ?? 'none', run: this.runs };
  }
  static roles = new Map<string, string>();
}

/** Every module a test opens is closed after it, failed or not. */
const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function instance(prefix: string) {
  const events: CacheEvent[] = [];
  const module: TestingModule = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { shared: redisStore({ url: servers.redis }) },
        prefix,
        secret: SECRET,
        onEvent: (e) => events.push(e),
      }),
    ],
    providers: [Permissions],
  }).compile();
  opened.push(module);
  await module.init();
  const perms = module.get(Permissions);
  return {
    module,
    perms,
    events,
    engine: module.get(CacheMemoizeEngine),
    invalidation: module.get(InvalidationService),
    keyOf: (user: string) => cacheHandle(perms, 'of').keyOf(user),
    written: (key: string) => entryWritten(events, key),
  };
}

describe('signed entries and the version records around them', () => {
  let raw: CacheStore;
  beforeEach(async () => {
    raw = redisStore({ url: servers.redis });
    await raw.ready?.(2_000);
  });
  afterEach(() => raw.disconnect());

  // Not a guarantee: someone who can write can roll version records back to values recorded
  // earlier (the epoch, a tag's token) and make an older, validly signed entry current again.
  // Signing stops forged content, not rollback; the README's Security section says so.

  it("a refused entry is reported and counted under the method that read it, not under '(direct)'", async () => {
    const prefix = uniquePrefix('rvown');
    const a = await instance(prefix);
    const key = a.keyOf('bob');
    const now = Date.now();
    const forged = buildEnvelope(
      {
        createdAt: now,
        freshUntil: now + 60_000,
        staleUntil: now + 60_000,
        epoch: '',
        etag: undefined,
        deps: [],
        tokens: [],
      },
      taggedJsonSerializer.encode({ user: 'bob', role: 'admin', run: 0 }),
      0,
      prefix,
    );
    await raw.set(key, forged, 60_000);
    expect((await a.perms.of('bob')).role).toBe('none');
    const tampered = a.events.find((e) => e.type === 'tampered') as { owner?: string } | undefined;
    expect(tampered).toBeDefined();
    expect(tampered!.owner).toBe('Permissions.of');
    const stats = a.engine.stats();
    expect(stats.byNamespace['Permissions.of']?.tampered).toBe(1);
    expect(stats.byNamespace['(direct)']).toBeUndefined();
    await a.module.close();
  });
});
