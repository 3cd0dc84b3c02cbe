/**
 * A failing grace refresh that several callers were served stale from must leave no promise
 * rejected without a handler: in a plain Node process (unlike under Jest) one ends the process.
 * Each case runs a child process on its store; before the fix, it exited with code 1.
 */
import { sharedServers } from '../support/shared-servers';
import { runTs } from '../support/ts-child';

const servers = sharedServers();

describe.each(['memory', 'redis', 'tiered'])('a failing grace refresh on %s', (kind) => {
  it.each(['none', 'soft'])(
    'leaves the process up (soft timeout: %s)',
    (soft) => {
      const run = runTs('test/support/grace-refresh-child.ts', [kind, servers.redis, soft]);
      expect({ stdout: run.stdout, status: run.status, stderr: run.stderr.split('\n').slice(0, 3).join('\n') }).toEqual(
        {
          stdout: 'served 42,42,42\nstill alive\n',
          status: 0,
          stderr: '',
        },
      );
    },
    40_000,
  );
});
