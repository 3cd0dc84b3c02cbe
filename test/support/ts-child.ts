import { spawn, spawnSync, type ChildProcessByStdio, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The repository root: children run from it, with its tsconfig. */
export const root = join(__dirname, '../..');

const nodeArgs = (script: string, args: readonly string[]) => [
  '-r',
  'ts-node/register/transpile-only',
  join(root, script),
  ...args,
];
const env = () => ({ ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.json'), TS_NODE_SWC: 'true' });

/**
 * A TypeScript script (`script` relative to the root) in a Node process of its own: for what Jest
 * hides (an unhandled rejection or uncaught exception ends a plain process) or a second instance.
 * stdin and stdout are piped; stderr is the test's, unless `stderr: 'pipe'`.
 */
export function spawnTs(script: string, args: readonly string[]): ChildProcessByStdio<Writable, Readable, null>;
export function spawnTs(
  script: string,
  args: readonly string[],
  stderr: 'pipe',
): ChildProcessByStdio<Writable, Readable, Readable>;
export function spawnTs(script: string, args: readonly string[], stderr: 'inherit' | 'pipe' = 'inherit') {
  return spawn(process.execPath, nodeArgs(script, args), { cwd: root, env: env(), stdio: ['pipe', 'pipe', stderr] });
}

/** The same, run to its end (`timeoutMs` bounds the test run, it is no assertion on speed). */
export function runTs(script: string, args: readonly string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, nodeArgs(script, args), {
    cwd: root,
    env: env(),
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}
