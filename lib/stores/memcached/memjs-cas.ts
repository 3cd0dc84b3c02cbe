import type { MemcachedClientLike } from './memcached.store';
import { memjsInternals, nextSeq, request, type MemjsInternals, type MemjsResponse } from './memjs-requests';

/*
 * Compare-and-set and compare-and-delete on memcached. memjs' set() and delete() send no CAS
 * token ("TODO: support version (CAS)"), so these send binary-protocol requests that carry one
 * (memjs-requests.ts builds them) through memjs' perform() (its server choice, timeouts and
 * retries), as the store's get() does. Clients that are not memjs get neither: the store then lacks the methods.
 */

const GET = 0x00;
const SET = 0x01;
const DELETE = 0x04;
const OK = 0x0000;
const NOT_FOUND = 0x0001;
const EXISTS = 0x0002; // the CAS token no longer matches: someone wrote the key meanwhile

export interface CasOperations {
  /** Replaces the value only if it is still byte-for-byte `expected` (gets, compare, set with its CAS). */
  compareAndSet(key: string, expected: Buffer, value: Buffer, expires: number): Promise<boolean>;
  /** Deletes the key only if it still holds `expected` (gets, compare, delete with its CAS). */
  compareAndDelete(key: string, expected: Buffer): Promise<boolean>;
}

/**
 * `casDisabled` is called when a server answers with CAS token 0 (started with -C, or a managed
 * service's cas_disabled): a write carrying 0 is unconditional. compareAndSet then refuses
 * (false, nothing written): callers take a refusal as "someone wrote meanwhile", which is safe,
 * where a check-then-write would let a refresh's version move undo an invalidation landing
 * between its read and its write. compareAndDelete stays check-then-delete (a lock release).
 */
export function casOperations(client: MemcachedClientLike, casDisabled: () => void): CasOperations | undefined {
  const memjs = memjsInternals(client);
  if (memjs === undefined) return undefined;
  const unconditional = (cas: Buffer) => cas.readBigUInt64BE(0) === 0n;
  /** The value and its CAS token, when the key is present and still holds `expected`. */
  const tokenIfHolding = async (key: string, expected: Buffer): Promise<Buffer | undefined> => {
    const response = await perform(memjs, key, GET, Buffer.alloc(0), Buffer.alloc(0), undefined);
    const status = response.header.status;
    if (status === NOT_FOUND) return undefined;
    if (status !== OK) throw new Error(`memcached GET ${key} failed with status ${status}`);
    const cas = response.header.cas;
    if (cas === undefined || cas.length !== 8) throw new Error(`memcached GET ${key} answered without a CAS token`);
    if (unconditional(cas)) casDisabled();
    return Buffer.compare(response.val, expected) === 0 ? Buffer.from(cas) : undefined;
  };
  const applied = (key: string, op: string, status: number): boolean => {
    if (status === OK) return true;
    if (status === EXISTS || status === NOT_FOUND) return false;
    throw new Error(`memcached ${op} ${key} failed with status ${status}`);
  };
  return {
    async compareAndSet(key, expected, value, expires) {
      const cas = await tokenIfHolding(key, expected);
      if (cas === undefined || unconditional(cas)) return false;
      const extras = Buffer.alloc(8); // flags 0 (as memjs' set), then the expiration
      extras.writeUInt32BE(expires, 4);
      return applied(key, 'SET', (await perform(memjs, key, SET, extras, value, cas)).header.status);
    },
    async compareAndDelete(key, expected) {
      const cas = await tokenIfHolding(key, expected);
      if (cas === undefined) return false;
      return applied(
        key,
        'DELETE',
        (await perform(memjs, key, DELETE, Buffer.alloc(0), Buffer.alloc(0), cas)).header.status,
      );
    },
  };
}

function perform(
  memjs: MemjsInternals,
  key: string,
  opcode: number,
  extras: Buffer,
  value: Buffer,
  cas: Buffer | undefined,
): Promise<MemjsResponse> {
  const seq = nextSeq(memjs);
  return new Promise((resolve, reject) =>
    memjs.perform(key, request(opcode, key, extras, value, seq, cas), seq, (error, response) =>
      error || response === null
        ? reject(error ?? new Error(`memcached request for ${key} failed`))
        : resolve(response),
    ),
  );
}
