/*
 * Tiered store, two instances in their own processes (found by review). A refresh() whose value is
 * not stored (a deleted row) invalidates the key, and resolves, as an invalidation does, once
 * every other instance has dropped its L1 copy or its lease ran out. It was bounded by
 * operationTimeout (500 ms) while the bus waits up to lease + 250 ms for a busy instance's
 * acknowledgement: B, its event loop busy for 700 ms, served its L1 copy of the deleted row to a
 * call that started after A's refresh() resolved. invalidate() is the control.
 */
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnTs } from '../support/ts-child';
import { sharedServers, uniquePrefix } from '../support/shared-servers';

const servers = sharedServers();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Worker {
  private rid = 0;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  ready: Promise<void>;
  constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.event === 'ready') return ready();
      this.waiting.get(msg.rid as number)?.(msg);
    });
  }
  send<T = Record<string, unknown>>(cmd: object): Promise<T> {
    const rid = ++this.rid;
    const answer = new Promise<T>((r) => this.waiting.set(rid, r as never));
    this.child.stdin.write(JSON.stringify({ ...cmd, rid }) + '\n');
    return answer;
  }
  kill(): void {
    this.child.kill('SIGKILL');
  }
}

it.each(['refresh', 'invalidate'])(
  'tiered: after A.%s() of a deleted row resolves, B does not serve the row from L1',
  async (op) => {
    const dir = mkdtempSync(join(tmpdir(), 'rev-'));
    const db = join(dir, 'db.json');
    const prefix = uniquePrefix('repl');
    const start = () => new Worker(spawnTs('test/support/replaced-worker.ts', [servers.redis, prefix, db]));
    writeFileSync(db, '{}');
    const a = start();
    const b = start();
    try {
      await Promise.all([a.ready, b.ready]);
      const stale: string[] = [];
      for (let round = 0; round < 2; round++) {
        const id = round + 1;
        writeFileSync(db, JSON.stringify({ [id]: `row${id}` }));
        expect((await a.send<{ value: string }>({ op: 'get', id })).value).toBe(`row${id}`);
        await sleep(50);
        expect((await b.send<{ value: string }>({ op: 'get', id })).value).toBe(`row${id}`);
        // B serves it from L1 under its lease.
        for (let i = 0; i < 50 && (await b.send<{ source: string }>({ op: 'source', id })).source !== 'l1'; i++)
          await sleep(20);
        writeFileSync(db, '{}'); // the row is deleted
        const onB = b.send<{ value: string | null; startedAt: number }>({
          op: 'stallThenGet',
          id,
          stallMs: 700,
          timerMs: 650,
        });
        await sleep(30); // B is busy now
        const refreshed = await a.send<{ value: string | null; resolvedAt: number }>({ op, id });
        expect(refreshed.value).toBeNull();
        const got = await onB;
        if (got.startedAt > refreshed.resolvedAt && got.value !== null)
          stale.push(
            `round ${round}: B's call started ${got.startedAt - refreshed.resolvedAt} ms after A's ${op}() resolved, got ${got.value}`,
          );
        await sleep(1_500);
      }
      expect(stale).toEqual([]);
    } finally {
      a.kill();
      b.kill();
    }
  },
  120_000,
);
