/*
 * Region values are checked at bootstrap each on its own; checks between two options apply only
 * where the region sets both (its methods may give the grace a timeout.soft needs, or the ttl a
 * refreshAhead must stay under). regionsFromConfig keeps 'long.lock': 'false' over a default
 * 'long.lock.ttl'. Found by review of the bootstrap check.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoize,
  CacheMemoizeModule,
  CacheService,
  memoryStore,
  regionsFromConfig,
  type CacheMemoizeModuleOptions,
} from '../../lib';
import { uniquePrefix } from '../support/shared-servers';

let runs = 0;

@Injectable()
class SoftRegion {
  @CacheMemoize({ region: 'fast', grace: '1m' }) // the method gives the grace the region's soft timeout needs
  async get(id: number): Promise<number> {
    runs++;
    return id;
  }
}

@Injectable()
class AheadRegion {
  @CacheMemoize({ region: 'warm', ttl: '1h' }) // refreshAhead 10m of a 1h ttl: valid
  async get(id: number): Promise<number> {
    runs++;
    return id;
  }
}

async function boot(options: Partial<CacheMemoizeModuleOptions>, providers: Function[] = []): Promise<TestingModule> {
  const module = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('reg'), ...options }),
    ],
    providers: providers as never[],
  }).compile();
  await module.init();
  return module;
}

describe('valid regions refused at bootstrap', () => {
  it('a region with timeout.soft whose methods give grace boots and works', async () => {
    const m = await boot({ regions: { fast: { timeout: { soft: '100ms' } } } }, [SoftRegion]);
    try {
      runs = 0;
      expect(await m.get(SoftRegion).get(1)).toBe(1);
      expect(await m.get(SoftRegion).get(1)).toBe(1);
      expect(runs).toBe(1); // cached under the region's options
      // and the direct API with per-call grace
      expect(
        await m
          .get(CacheService)
          .region('fast')
          .getOrSet('k', () => 2, { grace: '1m' }),
      ).toBe(2);
    } finally {
      await m.close();
    }
  });

  it('a region with refreshAhead (no ttl) whose methods set a longer ttl boots and works', async () => {
    const m = await boot({ regions: { warm: { refreshAhead: '10m' } } }, [AheadRegion]);
    try {
      expect(await m.get(AheadRegion).get(1)).toBe(1);
    } finally {
      await m.close();
    }
  });
});

describe('regionsFromConfig flat parts', () => {
  it("'long.lock': 'false' with a default 'long.lock.ttl' leaves the lock off", () => {
    const r = regionsFromConfig({ 'long.lock': 'false', 'long.lock.ttl': '30s', 'long.ttl': '1h' });
    expect(r.long.lock === false || r.long.lock === undefined).toBe(true);
  });
});
