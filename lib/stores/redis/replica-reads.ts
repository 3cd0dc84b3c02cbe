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
      `redisStore(): the Redis Cluster ${passedIn ? 'client passed in' : 'it would create'} reads from replicas ` +
        `(${passedIn ? '' : 'clusterOptions.'}scaleReads: ${describe(o.scaleReads)}). ` +
        `A replica can still hold an entry an invalidation has removed from its master, so a call after the ` +
        `invalidation could get the old value. ` +
        (passedIn
          ? `Pass a Cluster with scaleReads: 'master' (its default); keep another client for your own replica reads.`
          : `Remove clusterOptions.scaleReads (its default is 'master').`),
    );
  if (!isCluster && o.role === 'slave')
    throw new InvalidOptionError(
      `redisStore(): the ${passedIn ? 'Sentinel client passed in' : 'client it would create'} connects to a replica ` +
        `(${passedIn ? '' : 'redisOptions.'}role: 'slave'): writes and invalidations fail there, and its reads can be ` +
        `older than an invalidation. ` +
        (passedIn
          ? `Pass a client with role: 'master' (the default).`
          : `Remove redisOptions.role (its default is 'master').`),
    );
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : typeof value === 'function' ? 'a function' : String(value);
}

/**
 * A Cluster's `clusterOptions.scaleReads`, or `redisOptions.role` of any other (a url's
 * `redisOptions` may carry `sentinels` too), checked before the client is created.
 */
export function refuseCreatedReplicaReads(options: object): void {
  const { clusterOptions, redisOptions } = options as {
    clusterOptions?: { scaleReads?: unknown };
    redisOptions?: { role?: unknown };
  };
  if ('cluster' in options) refuseReplicaOptions(true, { scaleReads: clusterOptions?.scaleReads }, false);
  else refuseReplicaOptions(false, { role: redisOptions?.role }, false);
}
