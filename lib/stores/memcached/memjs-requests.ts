import type { MemcachedClientLike } from './memcached.store';

/*
 * How MemcachedStore talks to memjs below its get(): cheaper GET requests, one socket write per
 * batch, and a request counter that survives 2^31 requests. Each reaches into memjs 1.x (its
 * perform()/incrSeq()/seq and its servers' sockets) and steps aside when that shape is absent.
 */

export interface Corkable {
  cork(): void;
  uncork(): void;
}
export const NO_SOCKETS: readonly Corkable[] = [];

export type Fetch = (key: string, done: (error: Error | null, value: Buffer | null) => void) => void;

/** The parts of memjs' Client below its get(): how a request reaches its server. */
export interface MemjsInternals {
  seq: number;
  incrSeq(): void;
  perform(
    key: string,
    request: Buffer,
    seq: number,
    callback: (error: Error | null, response: MemjsResponse | null) => void,
  ): void;
  options?: { serializer?: unknown };
}
export interface MemjsResponse {
  header: { status: number; cas?: Buffer };
  val: Buffer;
}

/**
 * memjs' request machinery when the client is memjs 1.x with its default (no-op) value serializer
 * (so the bytes sent are the bytes stored), else undefined.
 */
export function memjsInternals(client: MemcachedClientLike): MemjsInternals | undefined {
  const memjs = client as unknown as Partial<MemjsInternals>;
  return typeof memjs.perform === 'function' &&
    typeof memjs.incrSeq === 'function' &&
    typeof memjs.seq === 'number' &&
    memjs.options?.serializer == null
    ? (memjs as MemjsInternals)
    : undefined;
}

/**
 * memjs' get() builds each request with several small buffer allocations and a zero-fill (about
 * 2 µs, more than the rest of a hit); when the client is memjs with its default (no-op) value
 * serializer, requests are built here in one allocation and sent through its perform(), which
 * keeps its server choice, failover and timeouts. Otherwise its callback get(key, cb) is used,
 * or, for a client offering neither, its promise get().
 */
export function fetcherFor(client: MemcachedClientLike): Fetch {
  const internals = memjsInternals(client);
  if (internals !== undefined) {
    return (key, done) => {
      const seq = nextSeq(internals);
      internals.perform(key, getRequest(key, seq), seq, (error, response) => {
        if (error || response === null) return done(error ?? new Error('memcached GET failed'), null);
        const status = response.header.status;
        if (status === 0) done(null, response.val);
        else if (status === 1)
          done(null, null); // key not found
        else done(new Error(`memcached GET ${key} failed with status ${status}`), null);
      });
    };
  }
  const get = client.get as unknown as (
    this: MemcachedClientLike,
    key: string,
    callback: (error: Error | null, value: Buffer | null) => void,
  ) => void;
  if (get.length >= 2) return (key, done) => get.call(client, key, done);
  return (key, done) => {
    client.get(key).then(
      (result) => done(null, result.value),
      (error: Error) => done(error, null),
    );
  };
}

/**
 * memjs 1.3 wraps its request counter with `seq &= 0xffffffff`, which turns it negative after
 * 2^31 requests; from then on every request throws RangeError (the opaque field is unsigned)
 * for the next 2^31 requests, about six hours at 100k requests/s. Clients created here count
 * unsigned instead; a client passed in is left as it is.
 */
export function keepSequenceUnsigned(client: MemcachedClientLike): void {
  const memjs = client as unknown as Partial<MemjsInternals>;
  if (typeof memjs.incrSeq !== 'function' || typeof memjs.seq !== 'number') return;
  Object.defineProperty(client, 'incrSeq', {
    configurable: true,
    writable: true,
    value(this: MemjsInternals) {
      this.seq = (this.seq + 1) >>> 0;
    },
  });
}

/** A binary-protocol GET request (24-byte header + key). */
function getRequest(key: string, opaque: number): Buffer {
  const keyLength = Buffer.byteLength(key);
  const buf = Buffer.allocUnsafe(24 + keyLength);
  writeHeader(buf, 0x00, keyLength, 0, keyLength, opaque, undefined);
  buf.write(key, 24, 'utf8');
  return buf;
}

/**
 * A binary-protocol request: header (with the CAS token, if any), extras, key, value. Used for
 * the writes memjs cannot send (SET and DELETE carrying a CAS token: memjs-cas.ts).
 */
export function request(
  opcode: number,
  key: string,
  extras: Buffer,
  value: Buffer,
  opaque: number,
  cas: Buffer | undefined,
): Buffer {
  const keyLength = Buffer.byteLength(key);
  const body = extras.length + keyLength + value.length;
  const buf = Buffer.allocUnsafe(24 + body);
  writeHeader(buf, opcode, keyLength, extras.length, body, opaque, cas);
  extras.copy(buf, 24);
  buf.write(key, 24 + extras.length, 'utf8');
  value.copy(buf, 24 + extras.length + keyLength);
  return buf;
}

/** The 24-byte request header, every byte written (the buffer may be unzeroed). */
function writeHeader(
  buf: Buffer,
  opcode: number,
  keyLength: number,
  extrasLength: number,
  bodyLength: number,
  opaque: number,
  cas: Buffer | undefined,
): void {
  buf[0] = 0x80; // request magic
  buf[1] = opcode;
  buf.writeUInt16BE(keyLength, 2);
  buf[4] = extrasLength;
  buf[5] = 0; // data type
  buf.writeUInt16BE(0, 6); // vbucket
  buf.writeUInt32BE(bodyLength, 8);
  buf.writeUInt32BE(opaque, 12);
  if (cas === undefined) {
    buf.writeUInt32BE(0, 16);
    buf.writeUInt32BE(0, 20);
  } else cas.copy(buf, 16, 0, 8);
}

/**
 * memjs' next request number, sent and registered unsigned: memjs wraps its counter to a signed
 * 32-bit value (negative past 2^31) while responses carry it unsigned.
 */
export function nextSeq(memjs: MemjsInternals): number {
  memjs.incrSeq();
  return memjs.seq >>> 0;
}

/**
 * memjs writes every request to its socket at once (a system call each); with the connected
 * sockets corked, the requests of a batch leave in one write per server. Reaches into memjs'
 * servers (`client.servers[i]._socket`): if that shape is absent, nothing is corked.
 */
export function corkSockets(client: MemcachedClientLike): readonly Corkable[] {
  const servers = (client as { servers?: unknown }).servers;
  if (!Array.isArray(servers)) return NO_SOCKETS;
  const corked: Corkable[] = [];
  for (const server of servers as Array<{ connected?: boolean; _socket?: Partial<Corkable> } | undefined>) {
    const socket = server?._socket;
    if (server?.connected === true && typeof socket?.cork === 'function' && typeof socket.uncork === 'function') {
      socket.cork();
      corked.push(socket as Corkable);
    }
  }
  return corked;
}
