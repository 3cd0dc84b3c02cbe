/**
 * One tiered instance (memory over a Redis Cluster) in a process of its own, answering one JSON line
 * per command: { op: 'get', key, tag, value } → { value } (getOrSet, the factory returning `value`);
 * { op: 'inv', tag } → { ok } | { error }; { op: 'sub' } → the bus subscriber's node port and local
 * port; { op: 'exit' }. argv: startup nodes (JSON), prefix.
 */
import { createInterface } from 'node:readline';
import { memoryStore, redisStore, tieredStore } from '../../lib';
import { Memoizer } from '../../lib/engine/memoizer';
import { testPolicy } from './policy';

interface Connection {
  options: { port: number };
  stream?: { localPort?: number };
}

async function main(): Promise<void> {
  const [nodes, prefix] = process.argv.slice(2);
  const store = tieredStore(memoryStore(), redisStore({ cluster: JSON.parse(nodes) as never }));
  if (!(await store.ready(10_000))) throw new Error('tiered store not ready');
  const m = new Memoizer(store, { prefix });
  const run = async (c: Record<string, string>): Promise<object> => {
    if (c.op === 'get')
      return { value: await m.getOrSet(c.key, async () => c.value, testPolicy({ ttlMs: 60_000, deps: [c.tag] })) };
    if (c.op === 'inv')
      return m.invalidateDeps([c.tag]).then(
        () => ({ ok: true }),
        (e: Error) => ({ error: e.message }),
      );
    // The ioredis Cluster's own subscriber connection (ClusterSubscriber.subscriber).
    const cluster = (store.bus as unknown as { subscriber: { subscriber: { subscriber: Connection } } }).subscriber;
    const conn = cluster.subscriber.subscriber;
    return { port: conn.options.port, localPort: conn.stream?.localPort };
  };
  process.stdout.write('{"ready":true}\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line) as Record<string, string>;
    if (c.op === 'exit') break;
    process.stdout.write(JSON.stringify(await run(c)) + '\n');
  }
  await m.close();
  await store.disconnect();
  process.exit(0);
}
void main();
