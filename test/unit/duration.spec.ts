import { parseDuration } from '../../lib/util/duration';
import { InvalidOptionError } from '../../lib/errors';

describe('parseDuration', () => {
  it.each([
    [1500, 1500],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['2 m', 120_000],
    ['30000', 30_000],
    [' 250 ', 250],
  ])('%p -> %p ms', (input, ms) => {
    expect(parseDuration(input, 'ttl')).toBe(ms);
  });

  it.each([[-1], [0], ['abc'], ['5 minutes'], [NaN], [Infinity], [null], [{}], ['-5s']])(
    'rejects %p naming the option',
    (input) => {
      expect(() => parseDuration(input, '@CacheMemoize on A.b: option ttl')).toThrow(InvalidOptionError);
      expect(() => parseDuration(input, '@CacheMemoize on A.b: option ttl')).toThrow(/A\.b: option ttl/);
    },
  );

  it('names what it got once', () => {
    expect(() => parseDuration(undefined, 'ttl')).toThrow(
      "ttl: expected a duration (milliseconds or a string like '30s'), got undefined.",
    );
    expect(() => parseDuration(true, 'ttl')).toThrow('got boolean true.');
  });
});
