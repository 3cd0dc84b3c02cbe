/**
 * Hooks and event listeners are typed to return void, yet an async one compiles. One that rejects
 * must not end the process (Node's default on an unhandled rejection, which Jest does not apply:
 * hence a child process). Before the fix, each of these exited with code 1 after the call.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '../..');

function runChild(mode: 'hook' | 'event' | 'subscribe') {
  const run = spawnSync(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', join(root, 'test/support/async-hook-child.ts'), mode],
    {
      cwd: root,
      env: { ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.json'), TS_NODE_SWC: 'true' },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { status: run.status, stdout: run.stdout.trim().split('\n') };
}

describe('an async hook or listener that rejects', () => {
  it('onMiss hook: the call is served, the failure is logged as a hook failure, the process lives on', () => {
    const run = runChild('hook');
    expect(run.status).toBe(0);
    expect(run.stdout).toEqual([
      'logged error onMiss hook of Svc.get threw: metrics backend down',
      'served {"id":1}',
      'alive',
    ]);
  }, 40_000);

  it.each(['event', 'subscribe'] as const)(
    '%s listener: the call is served, the process lives on',
    (mode) => {
      expect(runChild(mode)).toEqual({ status: 0, stdout: ['served {"id":1}', 'alive'] });
    },
    40_000,
  );
});
