/*
 * BusProtocol over an in-process hub that can lose, hold back or reorder one sender's messages to
 * one receiver while the receiver's own pings keep arriving: what a Redis Cluster does when a link
 * between two nodes drops with messages in its buffer, or forwards a sender's publishes through
 * different nodes. The receiver's lease never lapses, so only the senders' sequence numbers can
 * tell it that it missed an invalidation. (The same loss on a real cluster:
 * test/integration/tiered-cluster-link.spec.ts.)
 */
import { BusProtocol, type BusHandlers } from '../../lib/engine/bus';
import type { BusTransport } from '../../lib/types/bus';
import { until } from '../support/until';

const LEASE_MS = 40;

/** Decides, per message and receiver, whether it is delivered now ('pass'), never ('lose') or by the spec ('hold'). */
type Route = (to: string, text: string, deliver: () => void) => 'pass' | 'lose' | 'hold';

class Hub {
  route: Route = () => 'pass';
  private readonly subs: Array<{ name: string; channels: readonly string[]; deliver: (c: string, t: string) => void }> =
    [];
  private readonly states = new Map<string, (up: boolean) => void>();

  transport(name: string): BusTransport {
    // Counted as a receiver even when the message is then lost: the node counts its subscribers.
    const publish = async (channel: string, text: string) => {
      let n = 0;
      for (const s of this.subs)
        if (s.channels.includes(channel)) {
          n++;
          const deliver = () => s.deliver(channel, text);
          if (this.route(s.name, text, deliver) === 'pass') queueMicrotask(deliver);
        }
      return n;
    };
    return {
      subscribe: (channels, onMessage, onState) => {
        this.subs.push({ name, channels, deliver: onMessage });
        this.states.set(name, onState);
        queueMicrotask(() => onState(true));
      },
      publish,
      publishCounted: publish,
      close: async () => undefined,
    };
  }

  /** Reports `name`'s subscription lost and back (a reconnection). */
  reconnect(name: string): void {
    this.states.get(name)?.(false);
    this.states.get(name)?.(true);
  }
}

const kind = (text: string) => (JSON.parse(text) as { t: string }).t;
const from = (text: string) => (JSON.parse(text) as { from: string }).from;

async function pair(hub: Hub) {
  const a = new BusProtocol(hub.transport('a'), 'ch', LEASE_MS);
  const b = new BusProtocol(hub.transport('b'), 'ch', LEASE_MS);
  const seen: string[] = [];
  const handlers: BusHandlers = {
    invalidate: (c) => seen.push(`inv ${c.deps.join()}`),
    drop: (keys) => seen.push(`drop ${keys.join()}`),
    resync: () => seen.push('resync'),
  };
  b.attach(handlers);
  a.attach({ invalidate: () => undefined, drop: () => undefined, resync: () => undefined });
  await until(() => a.leased() && b.leased());
  // A's first message to reach B sets where A's sequence stands for B.
  await until(() => seen.length === 1, 5_000, "B's first resync");
  await new Promise((r) => setTimeout(r, LEASE_MS));
  seen.length = 0;
  return { a, b, seen, close: () => Promise.all([a.close(), b.close()]) };
}

it('an invalidation lost on its way to B, whose own pings arrive, makes B drop L1 before it resolves (20 rounds)', async () => {
  const hub = new Hub();
  const { a, b, seen, close } = await pair(hub);
  try {
    for (let round = 0; round < 20; round++) {
      let lost = false;
      hub.route = (to, text) => {
        if (to === 'b' && kind(text) === 'inv' && from(text) === a.instanceId && !lost) {
          lost = true;
          return 'lose';
        }
        return 'pass';
      };
      await a.announce({ deps: [`d${round}`], keys: [] }); // B counted, never acknowledges: waits out the lease
      expect(lost).toBe(true);
      expect(b.leased()).toBe(true); // B's pings kept coming back: its lease alone could not tell
      expect(seen).toEqual(['resync']);
      seen.length = 0;
      hub.route = () => 'pass';
    }
  } finally {
    await close();
  }
});

it('a lost drop message (another instance rewrote keys) makes B drop L1 too', async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    hub.route = (to, text) => (to === 'b' && kind(text) === 'drop' ? 'lose' : 'pass');
    await a.dropped(['k1']);
    await until(() => seen.includes('resync'), 5_000, 'the resync');
    expect(seen).toEqual(['resync']);
  } finally {
    await close();
  }
});

it("a message of A's that arrives after A's later ones, within the grace, is applied without dropping L1 (20 rounds)", async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    for (let round = 0; round < 20; round++) {
      let held: (() => void) | undefined;
      hub.route = (to, text, deliver) => {
        if (to !== 'b' || from(text) !== a.instanceId) return 'pass';
        if (kind(text) === 'inv' && held === undefined) {
          held = deliver;
          return 'hold';
        }
        // A's next message overtakes the held one, which follows right after it.
        if (held !== undefined) {
          const late = held;
          queueMicrotask(() => {
            deliver();
            late();
          });
          hub.route = () => 'pass';
          return 'hold';
        }
        return 'pass';
      };
      await a.announce({ deps: [`d${round}`], keys: [] });
      await new Promise((r) => setTimeout(r, LEASE_MS)); // several grace periods
      expect(seen).toEqual([`inv d${round}`]);
      seen.length = 0;
    }
  } finally {
    await close();
  }
});

it("B's own reconnection drops L1 once: the gap it leaves in A's sequence is not counted again", async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    hub.route = (to, text) => (to === 'b' && from(text) === a.instanceId ? 'lose' : 'pass');
    await a.announce({ deps: ['during'], keys: [] });
    hub.reconnect('b');
    hub.route = () => 'pass';
    await a.announce({ deps: ['after'], keys: [] });
    await new Promise((r) => setTimeout(r, LEASE_MS * 2));
    expect(seen).toEqual(['resync', 'inv after']);
  } finally {
    await close();
  }
});

it('messages without a number (an older version) are applied as before; a forged number costs at most L1', async () => {
  const hub = new Hub();
  const { seen, close } = await pair(hub);
  const other = hub.transport('mallory');
  try {
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'old', keys: ['k'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'old', keys: ['k2'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'x', n: 'NaN', keys: ['ignored'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'x', n: -1, keys: ['ignored'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'x', n: 1.5, keys: ['ignored'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'x', n: 0, keys: ['x0'] }));
    await other.publish('ch', JSON.stringify({ t: 'drop', from: 'x', n: 1e15, keys: ['x1'] })); // a gap no one waits out
    await new Promise((r) => setTimeout(r, LEASE_MS));
    expect(seen).toEqual(['drop k', 'drop k2', 'drop x0', 'resync', 'drop x1']);
  } finally {
    await close();
  }
});
