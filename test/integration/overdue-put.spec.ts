/*
 * A @CachePut write-through slower than its target's timeout.hard still yields to a key
 * invalidation that resolved while it ran (write-throughs are never made overdue; found by review
 * of the overdue design).
 */
import 'reflect-metadata';
import { Injectable, Logger } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import { CacheMemoize, CachePut, cacheHandle, memoryStore } from '../../lib';
import { appOn } from '../support/app-on';
import { settle } from '../support/settle';
import { uniquePrefix } from '../support/shared-servers';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rows = new Map<number, string>();
let putGate: (() => void) | undefined;

@Injectable()
class Catalog {
  @CacheMemoize({ ttl: '1m', timeout: { hard: 50 } })
  async product(id: number): Promise<string | null> {
    return rows.get(id) ?? null;
  }
}

@Injectable()
class Writer {
  @CachePut({ method: [Catalog, 'product'], args: (id: number) => [id] })
  async rename(id: number, name: string): Promise<string> {
    rows.set(id, name);
    await new Promise<void>((r) => (putGate = r)); // a slow write (past the target's hard timeout)
    return name;
  }
}

beforeAll(() => {
  jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
});

describe("@CachePut slower than the target method's timeout.hard (memory)", () => {
  let app: TestingModule;
  beforeEach(async () => {
    rows.clear();
    rows.set(1, 'a');
    app = await appOn(memoryStore(), uniquePrefix('putov'), [Catalog, Writer]);
  });
  afterEach(async () => {
    putGate?.();
    await app.close();
  });

  it('a key invalidation that resolved while the put ran still wins', async () => {
    const put = app.get(Writer).rename(1, 'b');
    await sleep(120); // past the 50 ms hard timeout
    rows.delete(1); // the row is deleted meanwhile...
    await cacheHandle(app.get(Catalog), 'product').invalidate(1); // ...and its key invalidated (resolved)
    putGate!();
    await put;
    await settle(app);
    expect(await app.get(Catalog).product(1)).toBeNull();
  });
});
