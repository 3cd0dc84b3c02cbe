import { CacheMemoize } from '../../lib';

// Compile-time checks (run by `npm run typecheck`, part of `npm test`): the decorator's callbacks
// must fit the decorated method's parameters.
class Typed {
  @CacheMemoize({ key: (id: number) => id, tags: (id: number) => [`u:${id}`] })
  async ok(id: number): Promise<number> {
    return id;
  }

  // @ts-expect-error key expects a number, the method takes a string
  @CacheMemoize({ key: (id: number) => id })
  async wrong(id: string): Promise<string> {
    return id;
  }

  @CacheMemoize({ ttl: '30s' })
  async untyped(a: string, b: { x: number }): Promise<string> {
    return a + b.x;
  }

  // @ts-expect-error '5 minutes' is not a duration
  @CacheMemoize({ ttl: '5 minutes' })
  async badTtl(): Promise<number> {
    return 1;
  }
}

describe('types', () => {
  it('compiles the decorator checks above', () => {
    expect(typeof Typed.prototype.ok).toBe('function');
  });
});

// Callbacks may declare only the leading parameters; result-only callbacks do not constrain args.
class Prefix {
  @CacheMemoize({ tags: (id: number) => [`u:${id}`], resultTags: (r: { org: number }) => [`org:${r.org}`] })
  async two(id: number, verbose: boolean): Promise<{ org: number }> {
    return { org: id + Number(verbose) };
  }

  // @ts-expect-error the first parameter is a string, not a number
  @CacheMemoize({ tags: (id: number) => [`u:${id}`] })
  async wrongPrefix(id: string, verbose: boolean): Promise<string> {
    return id + verbose;
  }
}
void Prefix;
