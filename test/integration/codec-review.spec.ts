/**
 * Guards the tagged-JSON encoder and the memory store's size estimate against what a review found
 * (see also test/unit/serializer.spec.ts and test/unit/memory-store.spec.ts):
 * - a result whose sub-objects are shared (a DAG, no cycle) expands once per reference in JSON:
 *   24 objects each referencing the next twice are 2^24 nodes. The encoder stops past its budget
 *   and the value is returned uncached (an `uncacheable` event), never an out-of-memory crash;
 * - memoryStore({ maxBytes }) counts a large string even when it sits behind many small values
 *   (the estimate stopped after 10,000 nodes: an 8 MB string after 20,000 numbers was charged ~1.3 MB).
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeModule, memoryStore } from '../../lib';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const MB = 1024 * 1024;

describe('a result with shared sub-objects on Redis', () => {
  it('is returned, twice, not stored (uncacheable), and the process neither crashes nor runs out of memory', () => {
    const child = spawnSync(
      process.execPath,
      [
        '--max-old-space-size=512',
        '-r',
        'ts-node/register/transpile-only',
        join(__dirname, '../support/codec-dag-child.ts'),
      ],
      {
        cwd: join(__dirname, '../..'),
        env: { ...process.env, REDIS_URL: servers.redis, PREFIX: uniquePrefix('dag'), LEVELS: '24' },
        encoding: 'utf8',
        timeout: 90_000, // a bound for the test run, not an assertion on speed
      },
    );
    expect({ status: child.status, signal: child.signal, stdout: child.stdout }).toEqual({
      status: 0,
      signal: null,
      stdout: 'returned level 24\nreturned level 24\nruns 2; events uncacheable,uncacheable\nclosed\n',
    });
  }, 120_000);
});

@Injectable()
class Reports {
  runs = 0;
  @CacheMemoize({ ttl: '1h' })
  async padded(id: number): Promise<unknown[]> {
    this.runs++;
    const blob = String.fromCharCode(97 + id).repeat(8 * MB); // one-byte string: 8 MB of heap
    return [blob, ...new Array<number>(20_000).fill(id)];
  }
  @CacheMemoize({ ttl: '1h' })
  async bare(id: number): Promise<unknown[]> {
    this.runs++;
    return [String.fromCharCode(97 + id).repeat(8 * MB)];
  }
}

/** How many of ten 8 MB results a 32 MiB memory store still holds after all ten were computed. */
async function retained(method: 'padded' | 'bare'): Promise<number> {
  const module = await Test.createTestingModule({
    imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore({ maxBytes: 32 * MB }) } })],
    providers: [Reports],
  }).compile();
  await module.init();
  try {
    const reports = module.get(Reports);
    for (let id = 0; id < 10; id++) await reports[method](id);
    let kept = 0;
    for (let id = 0; id < 10; id++) {
      const before = reports.runs;
      await reports[method](id);
      if (reports.runs === before) kept++;
    }
    return kept;
  } finally {
    await module.close();
  }
}

describe('memoryStore maxBytes with large values', () => {
  it('ten 8 MB strings alone are bounded by maxBytes 32 MiB (at most 4 kept)', async () => {
    expect(await retained('bare')).toBeLessThanOrEqual(4);
  });

  it('ten 8 MB results are bounded by maxBytes 32 MiB even when each also holds 20,000 numbers', async () => {
    expect(await retained('padded')).toBeLessThanOrEqual(4);
  });
});
