import { createHash } from 'node:crypto';
import { encodeValue } from '../keys/key-encoder';
import type { CacheRequest } from '../types/request';

/*
 * A GraphQL field's response depends on more than its arguments: a field resolver's on its parent,
 * and a resolver that reads `info` to load only the requested subfields on the selection set.
 * Both go into the key, so a narrower selection or another parent never serves a wider one.
 * Read structurally from `info`, so graphql-js is only needed for variables in nested arguments.
 */

interface AstNode {
  kind: string;
  name?: { value: string };
  arguments?: readonly AstArgument[];
  directives?: readonly AstDirective[];
  selectionSet?: { selections: readonly AstNode[] };
  typeCondition?: { name: { value: string } };
}
interface AstArgument {
  name: { value: string };
  value: unknown;
}
interface AstDirective {
  name: { value: string };
  arguments?: readonly AstArgument[];
}
export interface GraphqlInfoLike {
  fieldNodes?: readonly AstNode[];
  fragments?: Record<string, AstNode>;
  variableValues?: Record<string, unknown>;
  operation?: { operation?: string };
}

/** Not part of a mutation or subscription operation (an `info` without one: taken as a query, as before). */
export function isQuery(info: GraphqlInfoLike | undefined): boolean {
  const operation = info?.operation?.operation;
  return operation !== 'mutation' && operation !== 'subscription';
}

type ValueFromAst = (node: unknown, variables?: Record<string, unknown> | null) => unknown;
let valueFromAst: ValueFromAst | null | undefined;

function loadValueFromAst(): ValueFromAst | null {
  if (valueFromAst === undefined) {
    try {
      // graphql-js is there whenever GraphQL runs, and must not be a dependency of ours.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      valueFromAst = (require('graphql') as { valueFromASTUntyped: ValueFromAst }).valueFromASTUntyped;
    } catch {
      valueFromAst = null;
    }
  }
  return valueFromAst;
}

/** Canonical text of the field's selection set: fields sorted, fragments expanded, arguments resolved. */
export function selectionKey(info: GraphqlInfoLike | undefined): string {
  const nodes = info?.fieldNodes;
  if (nodes === undefined || nodes.length === 0) return '';
  const fields = new Map<string, string>();
  const seenFragments = new Set<string>();
  for (const node of nodes) collect(node.selectionSet?.selections ?? [], info, fields, seenFragments, '');
  return [...fields.values()].sort().join(',');
}

function collect(
  selections: readonly AstNode[],
  info: GraphqlInfoLike | undefined,
  out: Map<string, string>,
  seen: Set<string>,
  on: string,
): void {
  for (const sel of selections) {
    if (sel.kind === 'Field') {
      const name = sel.name?.value ?? '?';
      const args = sel.arguments?.length
        ? `(${sel.arguments
            .map((a) => `${a.name.value}:${argumentText(a, info)}`)
            .sort()
            .join(',')})`
        : '';
      const dirs = directivesText(sel.directives, info);
      const sub = sel.selectionSet ? `{${selectionKey({ ...info, fieldNodes: [sel] })}}` : '';
      const text = `${on}${name}${args}${dirs}${sub}`;
      out.set(text, text);
    } else if (sel.kind === 'InlineFragment') {
      const type = sel.typeCondition?.name.value;
      collect(
        sel.selectionSet?.selections ?? [],
        info,
        out,
        seen,
        `${on}${type ? `...on ${type}` : ''}${directivesText(sel.directives, info)} `,
      );
    } else if (sel.kind === 'FragmentSpread') {
      const name = sel.name?.value ?? '';
      const fragment = info?.fragments?.[name];
      if (fragment === undefined || seen.has(name)) continue;
      seen.add(name);
      const type = fragment.typeCondition?.name.value;
      collect(
        fragment.selectionSet?.selections ?? [],
        info,
        out,
        seen,
        `${on}${type ? `...on ${type}` : ''}${directivesText(sel.directives, info)} `,
      );
      seen.delete(name);
    }
  }
}

function directivesText(directives: readonly AstDirective[] | undefined, info: GraphqlInfoLike | undefined): string {
  if (!directives?.length) return '';
  return directives
    .map(
      (d) =>
        `@${d.name.value}(${(d.arguments ?? []).map((a) => `${a.name.value}:${argumentText(a, info)}`).join(',')})`,
    )
    .join('');
}

function argumentText(arg: AstArgument, info: GraphqlInfoLike | undefined): string {
  const resolve = loadValueFromAst();
  // Variables are resolved, so `posts(first: $n)` with n=5 and n=50 are different selections.
  // A resolved value is the user's data, whose fields may be named anything (`loc` too).
  const value = resolve === null ? stripLocations(arg.value) : resolve(arg.value, info?.variableValues ?? {});
  return encodeValue(value, 'a GraphQL selection', 'selection');
}

/** AST nodes (objects with a `kind`) carry source locations; only the value matters. */
function stripLocations(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripLocations);
  if (value === null || typeof value !== 'object') return value;
  const node = typeof (value as { kind?: unknown }).kind === 'string';
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!(node && k === 'loc')) out[k] = stripLocations(v);
  return out;
}

/**
 * Identity of a field resolver's parent: its `cacheKey()`, else what the resolver's `parentKey`
 * option returns, else a hash of its whole canonical encoding. Not its `id` alone: a field may read
 * other fields of its parent (a currency, a locale, a filtered view), and two parents with one id
 * and different data must never share an answer. `parentKey: (p) => p.id` opts in when it is safe.
 */
export function parentIdentity(parent: unknown, parentKey?: (parent: never) => unknown): string {
  if (parent === null || typeof parent !== 'object') return encodeValue(parent, 'a GraphQL parent', 'parent');
  const custom = (parent as { cacheKey?: unknown }).cacheKey;
  if (typeof custom === 'function')
    return `key:${encodeValue(custom.call(parent), 'a GraphQL parent', 'parent.cacheKey()')}`;
  if (parentKey !== undefined) return `by:${encodeValue(parentKey(parent as never), 'a GraphQL parent', 'parentKey')}`;
  const encoded = encodeValue(parent, 'a GraphQL parent', 'parent');
  return `#${createHash('sha256').update(encoded).digest('base64url')}`;
}

/**
 * A field's key: no field of a mutation or subscription is cached (a nested field must show what
 * the mutation wrote); a field resolver's answer depends on its parent, and a resolver that reads
 * `info` may load only the selected subfields: both are in the key.
 */
export function graphqlTrack(
  request: CacheRequest,
  info: GraphqlInfoLike | undefined,
  options: { parentKey?: (parent: never) => unknown },
  host: string | undefined,
  vary: unknown,
): unknown {
  const field = String(request.pattern);
  if (field.startsWith('Mutation.') || field.startsWith('Subscription.') || !isQuery(info)) return undefined;
  const parent = request.parent === undefined ? undefined : parentIdentity(request.parent, options.parentKey);
  return { host, endpoint: request.route, field, parent, args: request.data, selection: selectionKey(info), vary };
}
