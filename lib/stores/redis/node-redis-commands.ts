import type { RedisCommandsLike } from './redis.types';

/*
 * The commands RedisStore sends, on node-redis (see node-redis-client.ts). node-redis' own `timeout`
 * command option only bounds the wait in its offline queue, not a written command: each command
 * carries that option (a down Redis does not pile commands up) and races a timer of its own (a
 * frozen Redis does not hang a call), so every command settles within the bound.
 */

export type Args = Array<string | Buffer>;
interface SendOptions {
  timeout: number;
  typeMapping: Record<number, unknown>;
}
export type Sender = (key: string | undefined, args: Args, options: SendOptions) => Promise<unknown>;

/** node-redis' RESP_TYPES.BLOB_STRING ('$') read as a Buffer: values stay bytes. */
const BUFFERS: Record<number, unknown> = { 36: Buffer };
/** node-redis' default mapping (bulk strings as strings), whatever the client's own mapping is. */
const STRINGS: Record<number, unknown> = {};

/** A command that got no answer in time; while disconnected, worded as RedisStore explains outages. */
function timedOut(ms: number, connected: boolean): Error {
  return new Error(connected ? `Command timed out after ${ms} ms` : `The client is offline (no answer in ${ms} ms)`);
}

/** The commands RedisStore sends, on a node-redis client, cluster, sentinel or cluster node. */
export class NodeRedisCommands implements RedisCommandsLike {
  constructor(
    private readonly sender: Sender,
    readonly timeoutMs: number,
    private readonly connected: () => boolean = () => true,
  ) {}

  /** Sends one command; it settles within `timeoutMs` whatever the connection does. */
  protected send<T>(key: string | undefined, args: Args, buffers = false): Promise<T> {
    const ms = this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(timedOut(ms, this.connected())), ms);
      timer.unref?.();
      let reply: Promise<unknown>;
      try {
        reply = this.sender(key, args, { timeout: ms, typeMapping: buffers ? BUFFERS : STRINGS });
      } catch (error) {
        reply = Promise.reject(error);
      }
      reply.then(
        (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        (error: unknown) => {
          clearTimeout(timer);
          // node-redis' own TimeoutError (its offline-queue bound) carries no message.
          reject(error instanceof Error && error.message !== '' ? error : timedOut(ms, this.connected()));
        },
      );
    });
  }

  getBuffer(key: string): Promise<Buffer | null> {
    return this.send(key, ['GET', key], true);
  }

  mgetBuffer(...keys: string[]): Promise<Array<Buffer | null>> {
    return this.send(keys[0], ['MGET', ...keys], true);
  }

  set(key: string, value: Buffer, px: 'PX', ms: number, nx?: 'NX'): Promise<unknown> {
    const args: Args = ['SET', key, value, px, String(ms)];
    if (nx !== undefined) args.push(nx);
    return this.send(key, args);
  }

  unlink(...keys: string[]): Promise<number> {
    return this.send(keys[0], ['UNLINK', ...keys]);
  }

  pexpire(key: string, ms: number): Promise<number> {
    return this.send(key, ['PEXPIRE', key, String(ms)]);
  }

  scan(cursor: string, match: 'MATCH', pattern: string, count: 'COUNT', n: number): Promise<[string, string[]]> {
    return this.send(undefined, ['SCAN', cursor, match, pattern, count, String(n)]);
  }

  eval(script: string, numKeys: number, ...args: Array<string | Buffer>): Promise<unknown> {
    const key = numKeys > 0 ? String(args[0]) : undefined;
    return this.send(key, ['EVAL', script, String(numKeys), ...args]);
  }

  publish(channel: string, message: string): Promise<number> {
    return this.send(undefined, ['PUBLISH', channel, message]);
  }

  pubsub(subcommand: 'NUMSUB', channel: string): Promise<unknown> {
    return this.send(undefined, ['PUBSUB', subcommand, channel]);
  }

  time(): Promise<[string, string]> {
    return this.send(undefined, ['TIME']);
  }
}
