/*
 * BusProtocol over an in-process hub that can lose, hold back or reorder one sender's messages to
 * one receiver while the receiver's own pings keep arriving: what a Redis Cluster does when a link
 * between two nodes drops with messages in its buffer, or forwards a sender's publishes through
 * different nodes. The receiver's lease never lapses, so only the senders' sequence numbers can
 * tell it that it missed an invalidation. (The same loss on a real cluster:
 * test/integration/tiered-cluster-link.spec.ts.)
 */
import { BusProtocol, type BusHandlers } from '../../lib/engine/bus';
import { SenderSequences } from '../../lib/engine/bus-sequence';
import { StoreFailureError } from '../../lib';
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
      publishCounted: async (channel, text) => {
        await this.counting();
        return publish(channel, typeof text === 'function' ? text() : text);
      },
      close: async () => undefined,
    };
  }

  /** Reports `name`'s subscription lost (it goes on publishing). */
  down(name: string): void {
    this.states.get(name)?.(false);
  }

  /** What publishCounted waits for before it takes the text (a cluster counting receivers on every node). */
  counting: () => Promise<void> = async () => undefined;

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

it("B's reconnection drops L1, and again at A's first message after it: one lost in between would not show", async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    hub.route = (to, text) => (to === 'b' && from(text) === a.instanceId ? 'lose' : 'pass');
    await a.announce({ deps: ['during'], keys: [] });
    hub.reconnect('b');
    // Right after B subscribed again, A's next invalidation is lost too; its later pings arrive.
    let lost = false;
    hub.route = (to, text) => {
      if (to !== 'b' || from(text) !== a.instanceId || lost || kind(text) !== 'inv') return 'pass';
      lost = true;
      return 'lose';
    };
    await a.announce({ deps: ['lost'], keys: [] }); // waits out B's acknowledgement
    await a.announce({ deps: ['after'], keys: [] });
    expect(seen.slice(0, 2)).toEqual(['resync', 'resync']);
    expect(seen).toContain('inv after');
    expect(seen).not.toContain('inv lost');
  } finally {
    await close();
  }
});

it("a new instance's first invalidation, lost on its way to B, makes B drop L1 at its next message", async () => {
  const hub = new Hub();
  const b = new BusProtocol(hub.transport('b'), 'ch', LEASE_MS);
  const seen: string[] = [];
  b.attach({ invalidate: () => seen.push('inv'), drop: () => undefined, resync: () => seen.push('resync') });
  await until(() => b.leased() && seen.length === 1);
  seen.length = 0;
  let lost = false;
  hub.route = (to, text) => {
    if (to !== 'b' || lost || kind(text) !== 'inv') return 'pass';
    lost = true;
    return 'lose';
  };
  const a = new BusProtocol(hub.transport('a'), 'ch', LEASE_MS);
  a.attach({ invalidate: () => undefined, drop: () => undefined, resync: () => undefined });
  try {
    await a.announce({ deps: ['d'], keys: [] }); // A's very first message (number 0): B never acknowledges it
    expect(lost).toBe(true);
    expect(seen).toEqual(['resync']);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

it('a message later than the grace suspends the lease (hits confirmed against L2) until it arrives: no drop', async () => {
  const hub = new Hub();
  const { a, b, seen, close } = await pair(hub);
  try {
    let held: (() => void) | undefined;
    hub.route = (to, text, deliver) => {
      if (to !== 'b' || from(text) !== a.instanceId || kind(text) !== 'inv' || held !== undefined) return 'pass';
      held = deliver;
      return 'hold';
    };
    const announced = a.announce({ deps: ['late'], keys: [] });
    await until(() => !b.leased(), 5_000, "B's lease suspended"); // A's pings showed the gap
    expect(seen).toEqual([]);
    held!();
    await announced;
    await until(() => b.leased(), 5_000, "B's lease back");
    expect(seen).toEqual(['inv late']);
  } finally {
    await close();
  }
});

it('an invalidation on a closed bus fails at once (nothing would acknowledge it) and publishes nothing', async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    await a.close();
    await expect(a.announce({ deps: ['x'], keys: [] })).rejects.toThrow(StoreFailureError);
    await a.dropped(['k']);
    await new Promise((r) => setTimeout(r, LEASE_MS));
    // Nothing was published. (B may drop L1 meanwhile: A's pings stopped, and on a loaded machine
    // B's own lease can lapse; a 'resync' is not a message from A.)
    expect(seen.filter((s) => s !== 'resync')).toEqual([]);
  } finally {
    await close();
  }
});

it("A's pings lost (or failing to publish) leave no gap: a ping takes no number", async () => {
  const hub = new Hub();
  const { a, b, seen, close } = await pair(hub);
  try {
    hub.route = (to, text) => (to === 'b' && kind(text) === 'ping' && from(text) === a.instanceId ? 'lose' : 'pass');
    await new Promise((r) => setTimeout(r, LEASE_MS * 4));
    await a.announce({ deps: ['x'], keys: [] });
    await new Promise((r) => setTimeout(r, LEASE_MS * 2));
    expect(b.leased()).toBe(true);
    expect(seen).toEqual(['inv x']);
  } finally {
    await close();
  }
});

it("an invalidation lost while its sender's own subscription is down is still caught (it pings its count)", async () => {
  const hub = new Hub();
  const { a, seen, close } = await pair(hub);
  try {
    let lost = false;
    hub.route = (to, text) => {
      if (to !== 'b' || from(text) !== a.instanceId || kind(text) !== 'inv' || lost) return 'pass';
      lost = true;
      return 'lose';
    };
    hub.down('a'); // A reconnecting: no lease pings, but it still publishes
    await a.announce({ deps: ['x'], keys: [] }); // waits out B's acknowledgement
    expect(lost).toBe(true);
    expect(seen).toEqual(['resync']);
  } finally {
    await close();
  }
});

it('an invalidation still waiting when its bus closes fails (nothing would show a receiver that lost it)', async () => {
  const hub = new Hub();
  const { a, close } = await pair(hub);
  try {
    hub.route = (to, text) => (to === 'b' && kind(text) === 'inv' ? 'lose' : 'pass');
    const announced = a.announce({ deps: ['x'], keys: [] });
    await new Promise((r) => setTimeout(r, LEASE_MS / 2));
    await a.close();
    await expect(announced).rejects.toThrow(StoreFailureError);
  } finally {
    await close();
  }
});

it('an invalidation takes its number as it is sent: pings sent while the receivers are counted leave no gap', async () => {
  const hub = new Hub();
  const { a, b, seen, close } = await pair(hub);
  try {
    const leases: boolean[] = [];
    hub.counting = async () => {
      for (let i = 0; i < 16; i++) {
        await new Promise((r) => setTimeout(r, LEASE_MS / 4)); // A pings meanwhile
        leases.push(b.leased());
      }
    };
    await a.announce({ deps: ['x'], keys: [] });
    expect(leases.every(Boolean)).toBe(true);
    expect(seen).toEqual(['inv x']);
  } finally {
    await close();
  }
});

it("the lease stays suspended across the sender's later pings while a number is missing", async () => {
  const lease = 1000; // a quarter lease to suspend, a whole one to drop: room for two pings between
  const hub = new Hub();
  const a = new BusProtocol(hub.transport('a'), 'ch', lease);
  const b = new BusProtocol(hub.transport('b'), 'ch', lease);
  const seen: string[] = [];
  b.attach({ invalidate: () => seen.push('inv'), drop: () => undefined, resync: () => seen.push('resync') });
  a.attach({ invalidate: () => undefined, drop: () => undefined, resync: () => undefined });
  try {
    await until(() => a.leased() && b.leased() && seen.length === 1);
    let held: (() => void) | undefined;
    let pingsAfter = 0;
    hub.route = (to, text, deliver) => {
      if (to !== 'b' || from(text) !== a.instanceId) return 'pass';
      if (kind(text) === 'inv' && held === undefined) {
        held = deliver;
        return 'hold';
      }
      if (kind(text) === 'ping' && held !== undefined && !b.leased()) pingsAfter++;
      return 'pass';
    };
    const announced = a.announce({ deps: ['x'], keys: [] });
    await until(() => pingsAfter >= 2, 5_000, "two of A's pings after B's lease was suspended");
    expect(b.leased()).toBe(false);
    expect(seen).toEqual(['resync']);
    held!();
    await announced;
    await until(() => b.leased());
    expect(seen).toEqual(['resync', 'inv']);
  } finally {
    await Promise.all([a.close(), b.close()]);
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

describe('SenderSequences (what forged or lost messages can cost)', () => {
  it('keeps gaps as ranges, filled in any order', () => {
    const seq = new SenderSequences(10, 100);
    expect(seq.heard('a', 0, true, 0)).toBe(false);
    expect(seq.heard('a', 3001, true, 0)).toBe(false); // 1..3000 missing: one range
    expect(seq.pending).toBe(1);
    const order = Array.from({ length: 3000 }, (_, i) => i + 1).sort(
      (x, y) => ((x * 7919) % 3001) - ((y * 7919) % 3001),
    );
    for (const n of order) seq.heard('a', n, true, 5);
    expect(seq.pending).toBe(0);
    expect(seq.state(1_000)).toBe('complete');
  });

  it('bounds what a flood of forged gaps holds: past the bound it asks for L1 to be dropped', () => {
    const seq = new SenderSequences(10, 100);
    let drops = 0;
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      const sender = `forged${i % 5000}`;
      if (seq.heard(sender, 1 + Math.floor(i / 5000) * 200, true, i)) {
        drops++;
        seq.settled(); // what the bus does: drop L1, nothing missing matters any more
      }
      most = Math.max(most, seq.pending);
    }
    expect(drops).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(16_385);
  });

  it("a forged jump on a real sender's id costs L1 once, and later losses of that sender still show", () => {
    const seq = new SenderSequences(10, 100);
    seq.heard('a', 0, true, 0);
    expect(seq.heard('a', Number.MAX_SAFE_INTEGER, true, 1)).toBe(true);
    expect(seq.heard('a', 1, true, 2)).toBe(true); // heard afresh, having sent some: L1 again
    expect(seq.heard('a', 3, true, 3)).toBe(false); // 2 lost
    expect(seq.state(20)).toBe('late');
    expect(seq.state(200)).toBe('lost');
  });

  it('a ping carries the count so far: numbers below it that never arrived are missing', () => {
    const seq = new SenderSequences(10, 100);
    seq.heard('a', 0, true, 0);
    expect(seq.heard('a', 1, false, 0)).toBe(false); // a ping: 0 taken, nothing missing
    expect(seq.pending).toBe(0);
    expect(seq.heard('a', 3, false, 0)).toBe(false); // a ping: 1 and 2 taken, never heard
    expect(seq.pending).toBe(1);
    seq.heard('a', 1, true, 1);
    seq.heard('a', 2, true, 1);
    expect(seq.state(500)).toBe('complete');
  });
  it('forgets instances that ended when full: churn costs no L1 while live senders keep pinging', () => {
    const seq = new SenderSequences(10, 100);
    const live = ['a', 'b', 'c'];
    let drops = 0;
    for (const name of live) seq.heard(name, 0, true, 0);
    for (let i = 1; i <= 20_000; i++) {
      if (seq.heard(`one-shot ${i}`, 0, false, i)) drops++; // a process that pinged once and ended
      if (i % 10 === 0) for (const name of live) if (seq.heard(name, 1, false, i)) drops++;
    }
    expect(drops).toBe(0);
  });

  it('a gap past the pending bound drops L1 once: the sender goes on from the message that tripped it', () => {
    const seq = new SenderSequences(10, 100);
    seq.heard('a', 0, true, 0);
    let n = 0;
    let tripped = false;
    while (!tripped) tripped = seq.heard('a', (n += 2), true, 1); // every other number missing
    seq.settled(); // what the bus does on a drop
    expect(seq.heard('a', n + 1, true, 2)).toBe(false);
    expect(seq.pending).toBe(0);
    expect(seq.state(500)).toBe('complete');
  });
});
