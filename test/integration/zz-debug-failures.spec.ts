import { Redis } from 'ioredis';
import { RedisServer } from '../support/servers';
it('dbg', async () => {
  const server = await RedisServer.launch(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
  const app = new Redis(server.url, { enableAutoPipelining: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await app.set('a', 'b');
  const filler = new Redis(server.url, { maxRetriesPerRequest: 0 });
  for (const size of [256 * 1024, 16 * 1024, 1024, 64]) {
    const value = 'x'.repeat(size);
    for (let i = 0; i < 100_000; i++) {
      try { await filler.set(`fill:${size}:${i}`, value); } catch (error) { console.log(size, i, String(error)); break; }
    }
  }
  const used = Number(/used_memory:(\d+)/.exec(await filler.info('memory'))![1]);
  console.log('used', used);
  await filler.config('SET', 'maxmemory', String(used - 128 * 1024));
  filler.disconnect();
  console.log(server.cli('SET', 'probe', 'x'));
  try { console.log(await app.set('k', Buffer.from('tok'), 'PX', 1000)); } catch (e) { console.log('app', String(e)); }
  console.log(server.cli('INFO', 'memory').split('\n').filter(l => /used_memory:|maxmemory:/.test(l)));
  app.disconnect();
  await server.stop();
});
