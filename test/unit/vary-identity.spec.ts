import { lacksIdentity } from '../../lib/interceptor/request-key';

// A vary result (or a GraphQL parent's key) that names no one is shared by everyone it names no
// one for. Found by review: a string built around a missing part ('user:' + req.user.id) was an
// identity, so every user without an id shared one entry.
describe('lacksIdentity: what String() and Number() make of absent, inside what the function built', () => {
  it.each<[unknown, string]>([
    ['user:undefined', "'user:' + undefined"],
    ['user:null', "'user:' + null"],
    ['undefined-acme', 'a missing part first'],
    ['u NaN', 'a number of absent'],
    ['t:[object Object]', 'an object where a string was meant'],
    [['tenant-1', 'user:undefined'], 'a built part beside a constant'],
    [{ tenant: 't1', user: 'u-null' }, 'a built value beside a constant'],
    [[['t1', 'id=undefined']], 'nested'],
    [['t1', Number(undefined)], 'a NaN part beside a constant'],
  ])('%j names no one (%s)', (value) => {
    expect(lacksIdentity(value)).toBe(true);
  });

  it.each<[unknown, string]>([
    ['user:42', 'a present id'],
    ['undefinedness', 'a word that merely starts with one'],
    ['nullable-7', 'nor with null'],
    ['NaNa-3', 'nor NaN'],
    ['{"sub":"alice","avatar":null}', 'JSON of a row with a null column: null is a value there'],
    ['[1,null]', 'a JSON array'],
    [['tenant-1', '{"sub":"bob","avatar":null}'], 'such JSON beside a constant'],
    [{ tenant: 't1', user: 'alice', avatar: null }, 'a null value beside a present part'],
  ])('%j is an identity (%s)', (value) => {
    expect(lacksIdentity(value)).toBe(false);
  });
});
