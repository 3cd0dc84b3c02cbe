import { InvalidOptionError, memcachedStore } from '../../lib';
import { serverList } from '../../lib/stores/memcached/server-list';

describe('memcached server list (memjs places keys by position in it)', () => {
  it('one order for the same servers, however listed', () => {
    expect(serverList(' b:2 ,a:1,, c:3')).toBe('a:1,b:2,c:3');
  });

  it('ordered by host and port, not credentials: a rotated password moves no key (from review)', () => {
    const hosts = (list: string) => list.split(',').map((s) => s.slice(s.lastIndexOf('@') + 1));
    const before = serverList('app:pw-b@10.0.0.1:11211,app:pw-c@10.0.0.2:11211');
    const after = serverList('app:pw-d@10.0.0.1:11211,app:pw-c@10.0.0.2:11211');
    expect(hosts(after)).toEqual(hosts(before));
    expect(hosts(after)).toEqual(['10.0.0.1:11211', '10.0.0.2:11211']);
  });

  it('a list naming no server is refused (memjs would fall back to MEMCACHIER_SERVERS or localhost)', () => {
    expect(() => memcachedStore({ servers: ' , ' })).toThrow(InvalidOptionError);
  });
});
