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

describe('GraphQL selection keys: what review found unkeyed or costly', () => {
  const key = (source: string, vars?: Record<string, unknown>) => selectionKey(infoFor(source, vars));

  it('keys type conditions, and one fragment under two of them at one level', () => {
    expect(key('{ n { ... on Photo { url } } }')).not.toBe(key('{ n { ... on Video { url } } }'));
    expect(key('{ n { ...P } } fragment P on Photo { url }')).not.toBe(
      key('{ n { ...V } } fragment V on Video { url }'),
    );
    const F = ' fragment F on Node { id }';
    expect(key(`{ n { ... on A { ...F } ... on B { ...F } } }${F}`)).not.toBe(key(`{ n { ... on A { ...F } } }${F}`));
  });

  it('spells each field node on its own: one name with other arguments elsewhere is another text', () => {
    const F = ' fragment F on U { posts(first: 1) { id } }';
    expect(key(`{ u { ...F friends { posts(first: 2) { id } } } }${F}`)).not.toBe(
      key(`{ u { ...F friends { posts(first: 1) { id } } } }${F}`),
    );
  });

  it('keys directives other than skip/include: on subfields, spreads and fragment definitions', () => {
    expect(key('{ u { name @lang(code: "fr") } }')).not.toBe(key('{ u { name @lang(code: "en") } }'));
    expect(key('{ u { ...F @lang(code: "fr") } } fragment F on U { name }')).not.toBe(
      key('{ u { ...F @lang(code: "en") } } fragment F on U { name }'),
    );
    expect(key('{ u { ...F } } fragment F on U @lang(code: "fr") { name }')).not.toBe(
      key('{ u { ...F } } fragment F on U @lang(code: "en") { name }'),
    );
  });

  it('remembers a selection per fragments too', () => {
    const info = infoFor('{ u { ...F } } fragment F on U { a }');
    const one = selectionKey(info);
    const other = infoFor('{ u { ...F } } fragment F on U { b }');
    expect(selectionKey({ ...info, fragments: other.fragments })).not.toBe(one);
  });

  it('refuses an 80 KB document whose fragment paths would copy a long alias into 80 MB of key', () => {
    let source = '{ user { ...G1 } }';
    for (let i = 1; i <= 10; i++) {
      const next = i === 10 ? 'L' : `G${i + 1}`;
      source += ` fragment G${i} on User { ...on User { ...${next} } ... { ...${next} } }`;
    }
    source += ` fragment L on User { ${'a'.repeat(80_000)}: name }`;
    expect(() => key(source)).toThrow(/more than 1048576 characters/);
  });

  it('counts skipped selections, and shares one budget among the cached fields of an operation', () => {
    const skipped = `{ u { ${'...X @skip(if: true) '.repeat(10_001)} } } fragment X on U { a }`;
    expect(() => key(skipped)).toThrow(/more than 10000 selections/);
    // 400 aliases of a cached field, each visiting about 60 selections: one operation's variables.
    let operation = '{';
    for (let i = 0; i < 400; i++) operation += ` a${i}: u { ...G1 }`;
    let definitions = ' fragment L on U { id }';
    for (let i = 1; i <= 5; i++) {
      const next = i === 5 ? 'L' : `G${i + 1}`;
      definitions += ` fragment G${i} on U { ...on U { ...${next} } ... { ...${next} } }`;
    }
    const doc = parse(`${operation} }${definitions}`);
    const op = doc.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const d of doc.definitions) if (d.kind === 'FragmentDefinition') fragments[d.name.value] = d;
    const variableValues = {};
    let keyed = 0;
    let refused = 0;
    for (const field of op.selectionSet.selections) {
      try {
        selectionKey({ fieldNodes: [field], fragments, variableValues } as unknown as GraphqlInfoLike);
        keyed++;
      } catch {
        refused++;
      }
    }
    expect(keyed).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0); // the operation's budget ran out
    // Another operation (its own variables) has its own budget.
    expect(() =>
      selectionKey({
        fieldNodes: [op.selectionSet.selections[0]],
        fragments,
        variableValues: {},
      } as unknown as GraphqlInfoLike),
    ).not.toThrow();
  });
});
