import type { EnvelopeMeta } from '../codec/envelope';
import type { Found } from './batch-lookup';
import type { Change } from './remote-invalidation';

/** What a two-tier topology learns from the remote path, to keep its in-process copies. */
export interface RemoteObserver {
  /** A lookup found a servable entry (fill L1). */
  found?(key: string, found: Extract<Found, { value: unknown }>): void;
  /** This process stored an entry computed from logical time `stamp` on (fill L1, tell other instances to drop their copy). */
  stored?(key: string, value: unknown, meta: EnvelopeMeta, stamp: number): Promise<void>;
  /** An entry's deadlines were rewritten (expireIn): drop in-process copies here and elsewhere. */
  expired?(key: string): Promise<void>;
  /** Before an invalidation is written: drop what this process holds of it. */
  invalidating?(change: Change): void;
  /** After it is durable: announce it to other instances (rejects when it cannot). */
  announce?(change: Change): Promise<void>;
}
