/**
 * Hooks and event listeners are typed to return void, yet an async one compiles. One that rejects
 * must not end the process (Node's default on an unhandled rejection, which Jest does not apply:
 * hence a child process). Before the fix, each of these exited with code 1 after the call.
 */
import { runTs } from '../support/ts-child';

function runChild(mode: 'hook' | 'event' | 'subscribe') {
  const run = runTs('test/support/async-hook-child.ts', [mode]);
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
