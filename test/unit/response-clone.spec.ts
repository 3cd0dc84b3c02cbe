import { cloneResponse } from '../../lib/interceptor/response-clone';

/** A copy of a handler's response: equal, sharing nothing mutable, at any depth. */

function nested(depth: number): Record<string, unknown> {
  let node: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) node = { d: node, list: [i] };
  return node;
}

function depthOf(node: Record<string, unknown>): number {
  let depth = 0;
  for (let n = node; n.d !== undefined; n = n.d as Record<string, unknown>) depth++;
  return depth;
}

class Money {
  constructor(
    public amount: number,
    public currency: string,
  ) {}
  get label(): string {
    return `${this.amount} ${this.currency}`;
  }
}

describe('cloneResponse', () => {
  it('copies a body nested deeper than the call stack (20,000 levels), sharing no level', () => {
    const body = nested(20_000);
    const copy = cloneResponse(body);
    expect(depthOf(copy)).toBe(20_000);
    let a = body;
    let b = copy;
    for (let i = 0; i < 20_000; i += 1_999) {
      expect(b).not.toBe(a);
      expect(b.list).not.toBe(a.list);
      expect(b.list).toEqual(a.list);
      for (let j = 0; j < 1_999 && a.d !== undefined; j++) {
        a = a.d as Record<string, unknown>;
        b = b.d as Record<string, unknown>;
      }
    }
  });

  it('keeps cycles and shared references as they are, within the copy', () => {
    const shared = { n: 1 };
    const body: Record<string, unknown> = { a: shared, b: [shared, shared] };
    body.self = body;
    const copy = cloneResponse(body);
    expect(copy.self).toBe(copy);
    expect(copy.a).not.toBe(shared);
    expect((copy.b as unknown[])[0]).toBe(copy.a);
    expect((copy.b as unknown[])[1]).toBe(copy.a);
  });

  it('keeps prototypes, getters, symbols and non-enumerable fields; copies Map, Set and Array subclasses', () => {
    class Page<T> extends Array<T> {}
    const page = new Page<Money>();
    page.push(new Money(5, 'EUR'));
    const tag = Symbol('tag');
    const key = { k: 1 };
    const body = {
      price: new Money(10, 'EUR'),
      page,
      map: new Map<unknown, unknown>([[key, new Money(1, 'USD')]]),
      set: new Set([new Money(2, 'GBP')]),
      when: new Date(0),
      bytes: Buffer.from('hi'),
      url: new URL('https://example.com/a?b=1'),
      [tag]: 'symbol',
    };
    Object.defineProperty(body, 'hidden', { value: { secret: 1 }, enumerable: false });
    const copy = cloneResponse(body);
    expect(copy.price).toBeInstanceOf(Money);
    expect(copy.price).not.toBe(body.price);
    expect(copy.price.label).toBe('10 EUR');
    expect(copy.page).toBeInstanceOf(Page);
    expect(copy.page[0]).toBeInstanceOf(Money);
    expect(copy.page[0]).not.toBe(page[0]);
    const [[k, v]] = [...copy.map];
    expect(k).toEqual(key);
    expect(k).not.toBe(key);
    expect(v).toBeInstanceOf(Money);
    expect([...copy.set][0]).toEqual(new Money(2, 'GBP'));
    expect([...copy.set][0]).not.toBe([...body.set][0]);
    expect(copy.when).toEqual(new Date(0));
    expect(copy.when).not.toBe(body.when);
    expect(copy.bytes.toString()).toBe('hi');
    expect(copy.bytes).not.toBe(body.bytes);
    expect(copy.url.href).toBe('https://example.com/a?b=1');
    expect(copy[tag]).toBe('symbol');
    const hidden = Object.getOwnPropertyDescriptor(copy, 'hidden')!;
    expect(hidden.enumerable).toBe(false);
    expect(hidden.value).toEqual({ secret: 1 });
    expect(hidden.value).not.toBe((body as unknown as { hidden: unknown }).hidden);
  });

  it('passes promises and streams by reference, and primitives as they are', () => {
    const promise = Promise.resolve(1);
    const stream = { pipe: () => undefined };
    const copy = cloneResponse({ promise, stream, n: 1, s: 'x', nil: null });
    expect(copy.promise).toBe(promise);
    expect(copy.stream).toBe(stream);
    expect([cloneResponse(5), cloneResponse('x'), cloneResponse(null)]).toEqual([5, 'x', null]);
  });
});
