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
});
