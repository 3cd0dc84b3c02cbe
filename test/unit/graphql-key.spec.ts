import { parse, type FieldNode, type FragmentDefinitionNode, type OperationDefinitionNode } from 'graphql';
import { parentIdentity, selectionKey, type GraphqlInfoLike } from '../../lib/interceptor/graphql-key';

/** The `info` a resolver of the first root field would get for this document and these variables. */
function infoFor(source: string, variableValues: Record<string, unknown> = {}): GraphqlInfoLike {
  const doc = parse(source);
  const op = doc.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of doc.definitions) if (d.kind === 'FragmentDefinition') fragments[d.name.value] = d;
  const field = op.selectionSet.selections[0] as FieldNode;
  return { fieldNodes: [field], fragments, variableValues } as unknown as GraphqlInfoLike;
}

describe('GraphQL selection keys', () => {
  const key = (source: string, vars?: Record<string, unknown>) => selectionKey(infoFor(source, vars));

  it('ignores field order and aliases-free formatting, but not the fields themselves', () => {
    expect(key('{ user { id name } }')).toBe(key('{ user {\n name\n id } }'));
    expect(key('{ user { id } }')).not.toBe(key('{ user { id name } }'));
    expect(key('{ user { posts { id } } }')).not.toBe(key('{ user { posts { id title } } }'));
  });

  it('resolves variables in nested arguments: different values are different selections', () => {
    const q = 'query Q($n: Int) { user { posts(first: $n) { id } } }';
    expect(key(q, { n: 5 })).not.toBe(key(q, { n: 50 }));
    expect(key(q, { n: 5 })).toBe(key('{ user { posts(first: 5) { id } } }'));
  });

  it('keeps argument fields named `loc` (only AST nodes carry locations): EU and US filters differ', () => {
    const eu = key('{ shop { products(filter: { loc: "EU", inStock: true }) { name } } }');
    expect(eu).not.toBe(key('{ shop { products(filter: { loc: "US", inStock: true }) { name } } }'));
    expect(eu).toContain('EU');
    const q = 'query Q($f: ProductFilter) { shop { products(filter: $f) { name } } }';
    expect(key(q, { f: { loc: 'EU' } })).not.toBe(key(q, { f: { loc: 'US' } }));
    expect(key(q, { f: { loc: { loc: 1 } } })).not.toBe(key(q, { f: { loc: { loc: 2 } } }));
  });

  it('expands fragments and keeps directives (an @include(if: false) field is not selected)', () => {
    expect(key('fragment F on User { id } { user { ...F } }')).toContain('id');
    const withDirective = 'query Q($x: Boolean!) { user { id secret @include(if: $x) } }';
    expect(key(withDirective, { x: true })).not.toBe(key(withDirective, { x: false }));
  });

  it('identifies parents by cacheKey(), then the parentKey option, then a hash of all their data (never the id alone)', () => {
    // Same id, other data (a currency the field reads): never the same answer.
    expect(parentIdentity({ id: 1, currency: 'EUR' })).not.toBe(parentIdentity({ id: 1, currency: 'USD' }));
    expect(parentIdentity({ id: 1 })).not.toBe(parentIdentity({ id: '1' }));
    expect(parentIdentity({ id: 1, b: 2, a: 1 })).toBe(parentIdentity({ a: 1, id: 1, b: 2 }));
    expect(parentIdentity({ cacheKey: () => 'k', id: 1 })).toBe(parentIdentity({ cacheKey: () => 'k', id: 2 }));
    const byId = (p: { id: number }) => p.id;
    expect(parentIdentity({ id: 1, currency: 'EUR' }, byId as never)).toBe(
      parentIdentity({ id: 1, currency: 'USD' }, byId as never),
    );
  });
  it('keys aliases (a look-ahead resolver loads per alias) and applies @skip/@include as graphql-js does', () => {
    expect(key('{ p { a: excerpt(len: 1) b: excerpt(len: 5) } }')).not.toBe(
      key('{ p { a: excerpt(len: 5) b: excerpt(len: 1) } }'),
    );
    expect(key('{ p { x: excerpt } }')).not.toBe(key('{ p { y: excerpt } }'));
    expect(key('{ p { excerpt: excerpt } }')).toBe(key('{ p { excerpt } }'));
    const q = 'query Q($v: Boolean!) { p { id secret @include(if: $v) ...S @skip(if: $v) } } fragment S on P { s }';
    expect(key(q, { v: true })).toBe(key('{ p { id secret } }'));
    expect(key(q, { v: false })).toBe(key('fragment S on P { s } { p { id ...S } }'));
  });

  it('keeps Int literals beyond 2^53 and Float literals a number cannot spell apart', () => {
    expect(key('{ p { c(after: 9007199254740993) { id } } }')).not.toBe(
      key('{ p { c(after: 9007199254740992) { id } } }'),
    );
    expect(key('{ p { c(x: 0.10000000000000000001) { id } } }')).not.toBe(key('{ p { c(x: 0.1) { id } } }'));
    // As earlier versions keyed them (and as variables do): 5, 1.5, "5", ENUM.
    expect(key('{ p { c(x: 5, y: 1.5, z: "5", e: ENUM) { id } } }')).toBe(
      key('query Q($x: Int, $y: Float, $z: String) { p { c(x: $x, y: $y, z: $z, e: ENUM) { id } } }', {
        x: 5,
        y: 1.5,
        z: '5',
      }),
    );
  });

  it('resolves variables without graphql-js (it need not be resolvable from the library)', () => {
    let isolated!: typeof selectionKey;
    jest.isolateModules(() => {
      jest.doMock('graphql', () => {
        throw new Error("Cannot find module 'graphql'");
      });
      isolated = (require('../../lib/interceptor/graphql-key') as { selectionKey: typeof selectionKey }).selectionKey;
    });
    const q = 'query Q($n: Int, $v: Boolean!) { user { posts(first: $n) { id } secret @include(if: $v) } }';
    expect(isolated(infoFor(q, { n: 5, v: true }))).not.toBe(isolated(infoFor(q, { n: 50, v: true })));
    expect(isolated(infoFor(q, { n: 5, v: true }))).not.toBe(isolated(infoFor(q, { n: 5, v: false })));
  });

  it('spells a fragment spread twice per level once (linear, as graphql-js runs it)', () => {
    let q = '{ p { ...F0 } }';
    for (let i = 0; i < 60; i++) q += ` fragment F${i} on P { ...F${i + 1} ...F${i + 1} }`;
    expect(key(`${q} fragment F60 on P { id }`)).toContain('id');
  });

  it('the same field nodes with other variables are keyed again (the last selection is remembered per nodes)', () => {
    const info = infoFor('query Q($n: Int) { user { posts(first: $n) { id } } }', { n: 1 });
    const one = selectionKey(info);
    expect(selectionKey({ ...info, variableValues: { n: 2 } })).not.toBe(one);
    expect(selectionKey(info)).toBe(one);
  });
  it('refuses a parent identity that names no parent (every parent would share one answer)', () => {
    expect(() => parentIdentity({ cacheKey: () => undefined, id: 1 })).toThrow(/cacheKey\(\) named no parent/);
    const byId = (p: { id?: number }) => p.id;
    expect(() => parentIdentity({ name: 'x' }, byId as never)).toThrow(/parentKey option named no parent/);
    expect(() => parentIdentity({ id: 1 }, ((p: { id: number }) => ({ id: p.id, v: undefined })) as never)).toThrow();
    expect(parentIdentity({ id: 0 }, byId as never)).toBe('by:0'); // 0 is an id
  });
});
