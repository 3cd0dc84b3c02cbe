/*
 * Bad input to regions and the direct API fails where it is written, naming what to fix:
 * - a region's values fail the boot (before, the app booted and every call on the region rejected);
 * - a CacheService option that does not apply, or is misspelt, rejects the call naming it (before,
 *   `tag:` or `resultTags:` were ignored, and invalidating that tag left the entry served);
 * - regionsFromConfig's flat keys reach options' parts ('long.timeout.hard', 'long.lock.ttl'),
 *   which it refused while listing `timeout` as valid.
 * Found by review; every case failed before.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  CacheMemoizeModule,
  CacheService,
  InjectCache,
  InvalidOptionError,
  memoryStore,
  regionsFromConfig,
  type CacheMemoizeModuleOptions,
} from '../../lib';
import { uniquePrefix } from '../support/shared-servers';

@Injectable()
class UsesLong {
  constructor(@InjectCache('long') readonly long: CacheService) {}
}

async function boot(options: Partial<CacheMemoizeModuleOptions>, providers: Function[] = []): Promise<TestingModule> {
  const module = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('opt'), ...options }),
    ],
    providers: providers as never[],
  }).compile();
  await module.init();
  return module;
}

describe('region values are checked at bootstrap', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unparsable ttl', { ttl: '1 hour' }, /regions\.long.*option ttl/],
    ['lock: "yes" from an env file', { lock: 'yes' }, /regions\.long.*option lock/],
    ['a grace that is an object', { grace: { minutes: 5 } }, /regions\.long.*option grace/],
    ['refreshAhead longer than ttl', { ttl: '1m', refreshAhead: '5m' }, /regions\.long.*refreshAhead/],
  ])('%s fails the boot, naming the region and the option', async (_what, long, message) => {
    const booting = boot({ regions: { long } as never }, [UsesLong]);
    await expect(booting).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(booting).rejects.toThrow(message);
  });

  it('control: valid region values boot, and the region applies', async () => {
    const m = await boot({ regions: { long: { ttl: '1h', lock: true, timeout: { hard: '5s' } } } }, [UsesLong]);
    try {
      expect(await m.get(UsesLong).long.getOrSet('k', () => 1)).toBe(1);
      expect(await m.get(UsesLong).long.ttl('k')).toBeGreaterThan(59 * 60_000);
    } finally {
      await m.close();
    }
  });
});

describe('CacheService options that do not apply', () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['tag (a typo of tags)', { tag: ['reports'] }, /option 'tag' does not apply.*did you mean 'tags'/],
    ['resultTags (a decorator option)', { resultTags: () => ['reports'] }, /option 'resultTags' does not apply/],
    ['namespace', { namespace: 'x' }, /option 'namespace' does not apply/],
  ])('%s: the call rejects naming the option, and nothing is stored', async (_what, extra, message) => {
    const m = await boot({});
    try {
      const cache = m.get(CacheService);
      const opts = { ttl: '1h', ...extra }; // hoisted: TypeScript's excess-property check does not see it
      await expect(cache.getOrSet('report', () => 'v1', opts as never)).rejects.toThrow(message);
      expect(await cache.get('report')).toBeUndefined();
    } finally {
      await m.close();
    }
  });
});

describe('regionsFromConfig, flat keys', () => {
  it("reach options' parts: 'long.timeout.hard', 'long.lock.timeout', 'long.lock.ttl'", () => {
    expect(
      regionsFromConfig({
        'long.ttl': '1h',
        'long.timeout.hard': '5s',
        'long.lock.timeout': ' 2s ',
        'long.lock.ttl': '10s',
        'a.b.ttl': '1m',
      }),
    ).toEqual({
      long: { ttl: '1h', timeout: { hard: '5s' }, lock: { timeout: '2s', ttl: '10s' } },
      'a.b': { ttl: '1m' },
    });
  });

  it('an unknown option still fails, naming the key', () => {
    expect(() => regionsFromConfig({ 'long.tll': '1h' })).toThrow(/'long\.tll' is not a region option/);
  });
});
