/**
 * The slice of an ioredis client (Redis or Cluster) the store uses, declared here so the
 * package's typings do not require ioredis to be installed. Real ioredis clients fit it.
 */
export interface RedisCommandsLike {
  getBuffer(key: string): Promise<Buffer | null>;
  mgetBuffer(...keys: string[]): Promise<Array<Buffer | null>>;
  set(key: string, value: Buffer, px: 'PX', ms: number): Promise<unknown>;
  set(key: string, value: Buffer, px: 'PX', ms: number, nx: 'NX'): Promise<unknown>;
  unlink(...keys: string[]): Promise<number>;
  pexpire(key: string, ms: number): Promise<number>;
  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  eval(script: string, numKeys: number, ...args: Array<string | Buffer>): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  /** PUBSUB NUMSUB (the invalidation bus counts subscribers node by node on a cluster). */
  pubsub?(subcommand: 'NUMSUB', channel: string): Promise<unknown>;
  time(): Promise<[string, string] | unknown[]>;
}

export interface RedisClientLike extends RedisCommandsLike {
  readonly status: string;
  readonly isCluster?: boolean;
  /** Cluster only: its masters, replicas ('slave') or both ('all'). */
  nodes?(role?: 'master' | 'slave' | 'all'): RedisCommandsLike[];
  quit(): Promise<unknown>;
  disconnect(): void;
  /** ioredis: opens a client that was closed (a store reused after its app closed). */
  connect?(): Promise<unknown>;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  once(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** ioredis connection options (`RedisOptions`), passed through untouched. */
export type RedisConnectionOptions = Record<string, unknown>;

/** A Redis Cluster startup node. */
export type RedisClusterNode = { host: string; port: number } | string | number;
