import 'reflect-metadata';
import { CacheMemoize, CacheMemoizeMany, InvalidOptionError } from '../../lib';

/**
 * @CacheMemoize where it can never memoize is refused when the class is declared, naming the
 * method and the fix. Before, a static method or a symbol-named one ran uncached without a word.
 */
describe('@CacheMemoize on a method it cannot memoize', () => {
  const declare = (make: () => unknown) => {
    try {
      make();
    } catch (error) {
      return error;
    }
    return undefined;
  };

  it('a static method', () => {
    const error = declare(() => {
      class Rates {
        @CacheMemoize({ ttl: '1m' })
        static async current(): Promise<number> {
          return 1;
        }
      }
      return Rates;
    });
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(String(error)).toContain(
      '@CacheMemoize on Rates.current: a static method is not memoized. Make it an instance method of a provider.',
    );
  });

  it('a method named by a symbol', () => {
    const load = Symbol('load');
    const error = declare(() => {
      class Repo {
        @CacheMemoize({ ttl: '1m' })
        async [load](): Promise<number> {
          return 1;
        }
      }
      return Repo;
    });
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(String(error)).toContain('@CacheMemoize on Repo.Symbol(load): a method named by a symbol is not memoized.');
  });

  it('@CacheMemoizeMany on a static method', () => {
    const error = declare(() => {
      class Users {
        @CacheMemoizeMany({ ttl: '1m' })
        static async byIds(ids: number[]): Promise<number[]> {
          return ids;
        }
      }
      return Users;
    });
    expect(String(error)).toContain('@CacheMemoizeMany on Users.byIds: a static method is not memoized.');
  });
});
