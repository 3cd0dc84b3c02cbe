import { InvalidOptionError, redisStore } from '../../lib';

/**
 * A Redis URL's password never reaches an error or the startup line: not when the URL is refused
 * (a leading space from a .env file, another scheme), not when the password holds an unencoded
 * `@` (ioredis reads it up to the last one). Before the fix the refusal echoed the whole URL and
 * the description masked only up to the first `@`. No server is reached: the client never connects.
 */

const refusal = (url: string) => {
  try {
    void redisStore({ url })
      .disconnect()
      .catch(() => undefined);
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('redisStore URLs', () => {
  it.each([
    [' redis://default:hunter2-s3cret@cache.internal:6379', '" redis://***@cache.internal:6379"'],
    ['valkey://default:hunter2-s3cret@cache.internal:6379', '"valkey://***@cache.internal:6379"'],
    ['redis:/default:hunter2-s3cret@cache.internal', '"redis:/***@cache.internal"'],
  ])('a refused URL %j is named without its password', (url, shown) => {
    const error = refusal(url);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toBe(
      `redisStore(): url must look like redis://host:6379 (or rediss:// for TLS), got ${shown}.`,
    );
  });

  // Found by a new user: ioredis threw a TypeError quoting the URL, password and all.
  it.each([
    ['redis://:hunter2#s3cret@127.0.0.1:1/0', '"redis://***@127.0.0.1:1/0"'],
    ['redis://:hunter2?s3cret@127.0.0.1:1', '"redis://***@127.0.0.1:1"'],
    ['redis://default:12/s3cret@127.0.0.1:1', '"redis://***@127.0.0.1:1"'],
    ['redis://default:hunter2%zz@127.0.0.1:1', '"redis://***@127.0.0.1:1"'],
  ])('a password with an unencoded #, ?, / or %% (%j) is refused with the fix, never shown', (url, shown) => {
    const error = refusal(url);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toBe(
      `redisStore(): url ${shown} is not a URL a client can read: a password holding '#', '?', '/' or '%' must be ` +
        `percent-encoded (encodeURIComponent(password)), or passed as redisOptions: { password }.`,
    );
    expect((error as Error).message).not.toContain('s3cret');
  });

  it.each([
    ['redis://127.0.0.1:1/0?password=hunter2-s3cret&db=1', 'redis://127.0.0.1:1/0?password=***&db=1'],
    ['redis://127.0.0.1:1/0?name=a@b', 'redis://***@b'],
    ['REDIS://127.0.0.1:1', 'REDIS://127.0.0.1:1'], // ioredis takes the scheme in any case
    ['redis://default:ab@hunter2-s3cret@127.0.0.1:1/0', 'redis://***@127.0.0.1:1/0'],
    ['redis://:pw@127.0.0.1:1', 'redis://***@127.0.0.1:1'],
    ['rediss://127.0.0.1:1', 'rediss://127.0.0.1:1'],
  ])('the description of %j masks the whole credentials', async (url, description) => {
    const store = redisStore({ url, redisOptions: { lazyConnect: true } });
    try {
      expect(store.description).toContain(description);
      expect(store.description).not.toContain('hunter2');
    } finally {
      await store.disconnect().catch(() => undefined);
    }
  });
});
