/**
 * Guards the tagged-JSON encoder against what a review found (see also test/unit/serializer.spec.ts):
 * - a result whose sub-objects are shared (a DAG, no cycle) expands once per reference in JSON:
 *   24 objects each referencing the next twice are 2^24 nodes. The encoder stops past its budget
 *   and the value is returned uncached (an `uncacheable` event), never an out-of-memory crash.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();

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
