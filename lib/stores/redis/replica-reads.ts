import { InvalidOptionError } from '../../errors';

/**
 * An ioredis client passed in that reads from replicas: a Cluster with `scaleReads` other than
 * 'master', or a Sentinel client with `role: 'slave'`. Replication is asynchronous, so a replica
 * can still hold an entry, or a version record, that an invalidation has already changed on the
 * master: a call starting after the invalidation resolved could be served the old value. Refused
 * when the store is created, for clients passed in and for those its options would create
 * (`clusterOptions.scaleReads`, `redisOptions.role`). node-redis clients: the adapter sends every
 * command to the master.
 */
export function refuseReplicaReads(client: unknown, passedIn: boolean): void {
  const o = (client as { options?: { scaleReads?: unknown; role?: unknown } } | null)?.options;
  if (o === undefined || o === null) return;
  refuseReplicaOptions((client as { isCluster?: unknown }).isCluster === true, o, passedIn);
}

/** The same check on the options of a client not created yet (nothing to close when refused). */
function refuseReplicaOptions(
  isCluster: boolean,
  o: { scaleReads?: unknown; role?: unknown },
  passedIn: boolean,
): void {
  if (isCluster && o.scaleReads !== undefined && o.scaleReads !== 'master')
    throw new InvalidOptionError(
      `redisStore(): the Redis Cluster ${passedIn ? 'client passed in' : 'of clusterOptions'} reads from replicas ` +
        `(scaleReads: ${describe(o.scaleReads)}). ` +
        `A replica can still hold an entry an invalidation has removed from its master, so a call after the ` +
        `invalidation could get the old value. Pass a Cluster with scaleReads: 'master' (its default); keep another ` +
        `client for your own replica reads.`,
    );
  if (!isCluster && o.role === 'slave')
    throw new InvalidOptionError(
      `redisStore(): the Sentinel client ${passedIn ? 'passed in' : 'of redisOptions'} connects to a replica ` +
        `(role: 'slave'): writes and invalidations ` +
        `fail there, and its reads can be older than an invalidation. Pass a client with role: 'master' (the default).`,
    );
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : typeof value === 'function' ? 'a function' : String(value);
}

/** A Cluster's `clusterOptions.scaleReads`, a Sentinel's `redisOptions.role`, before creating it. */
export function refuseCreatedReplicaReads(options: object): void {
  const { clusterOptions, redisOptions } = options as {
    clusterOptions?: { scaleReads?: unknown };
    redisOptions?: { role?: unknown };
  };
  if ('cluster' in options) refuseReplicaOptions(true, { scaleReads: clusterOptions?.scaleReads }, false);
  else if ('sentinels' in options) refuseReplicaOptions(false, { role: redisOptions?.role }, false);
}
