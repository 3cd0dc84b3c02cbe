/*
 * The tiered store's bus after its connection comes back while the app's event loop is blocked (a
 * GC pause, a long synchronous task) or the server frozen: the SUBSCRIBE sent on reconnection
 * outlives commandTimeout. ioredis' own resubscription was a promise nobody awaited, and its
 * rejection ended the process (found by the fleet fuzz: a worker died after a Redis restart); and
 * the bus's own SUBSCRIBE, once failed, was never sent again, so the bus stayed down and every L1
 * hit was confirmed against L2 until the next reconnection.
 */
import { RedisServer } from '../support/servers';
import { until } from '../support/until';
import { WorkerProcess } from '../support/worker-process';

type State = { ups: number; messages: string[]; crash?: string };

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.launch();
});
afterAll(() => server.stop());

describe.each(['own', 'passed-in'])('the bus of a redisStore (%s ioredis client)', (client) => {
  it('comes back up, and the process lives, when its resubscription times out', async () => {
    const child = await WorkerProcess.start('test/support/bus-resubscribe-child.ts', [server.url, client]);
    try {
      let state: State = { ups: 0, messages: [] };
      const poll = async (least: number) => {
        state = await child.send<State>({ op: 'state' });
        if (state.crash !== undefined) throw new Error(`the process crashed: ${state.crash}`);
        return state.ups >= least;
      };
      await until(() => poll(1), 10_000, 'the bus up');
      await child.send({ op: 'arm', ms: 800 }); // over commandTimeout (500 ms)
      server.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await until(() => poll(2), 10_000, 'the bus up again after its SUBSCRIBE timed out');
      server.cli('PUBLISH', 'ch', 'after');
      await until(async () => (await poll(2)) && state.messages.includes('after'), 5_000, 'the message');
      expect(server.cli('PUBSUB', 'NUMSUB', 'ch').split('\n')).toEqual(['ch', '1']);
    } finally {
      await child.stop();
    }
  }, 40_000);
});
