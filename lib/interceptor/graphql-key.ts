import { createHash } from 'node:crypto';
import { encodeValue } from '../keys/key-encoder';
import type { CacheRequest } from '../types/request';
import { astValue, type AstArgument } from './graphql-value';
import { lacksIdentity } from './request-key';

/*
 * A GraphQL field's response depends on more than its arguments: a field resolver's on its parent,
 * and a resolver that reads `info` to load only the requested subfields on the selection set.
 * Both go into the key, so a narrower selection or another parent never serves a wider one.
 * Read structurally from `info`: graphql-js is not loaded (it need not be resolvable from here).
 */

interface AstNode {
  kind: string;
  name?: { value: string };
  alias?: { value: string };
  arguments?: readonly AstArgument[];
  directives?: readonly AstDirective[];
  selectionSet?: { selections: readonly AstNode[] };
  typeCondition?: { name: { value: string } };
}
interface AstDirective {
  name: { value: string };
  arguments?: readonly AstArgument[];
}
export interface GraphqlInfoLike {
  fieldNodes?: readonly AstNode[];
  fragments?: Record<string, AstNode>;
  variableValues?: Record<string, unknown>;
  operation?: { operation?: string; directives?: readonly AstDirective[] };
}

/** Not part of a mutation or subscription operation (an `info` without one: taken as a query, as before). */
export function isQuery(info: GraphqlInfoLike | undefined): boolean {
  const operation = info?.operation?.operation;
  return operation !== 'mutation' && operation !== 'subscription';
}

/**
 * Selections (fields, fragments, skipped ones too) and characters of text the keys of one
 * operation may cost, over all its cached fields, once fragments are expanded. graphql-js runs a
 * document whose fragments spread each other twice per level in linear time (it merges), but
 * spelling it out is exponential: past either, the field is served uncached.
 */
export const MAX_SELECTIONS = 10_000;
export const MAX_SELECTION_CHARS = 1024 * 1024;
/** A selection's text longer than this is keyed by its hash: nesting never multiplies key length. */
const HASHED_FROM = 512;

interface Budget {
  room: number;
  chars: number;
}

interface Walk {
  readonly vars: Record<string, unknown>;
  readonly fragments: Record<string, AstNode>;
  /** Each field node's text (without the fragments it sits in): a fragment spread in many places is spelled once. */
  readonly texts: Map<AstNode, string>;
  readonly budget: Budget;
}

/** One budget per operation run: graphql-js gives each its own variables object (aliases of a field share it). */
const budgets = new WeakMap<object, Budget>();
function budgetOf(info: GraphqlInfoLike | undefined): Budget {
  const fresh = () => ({ room: MAX_SELECTIONS, chars: MAX_SELECTION_CHARS });
  const vars = info?.variableValues;
  if (vars === undefined || vars === null || typeof vars !== 'object') return fresh();
  let budget = budgets.get(vars);
  if (budget === undefined) budgets.set(vars, (budget = fresh()));
  return budget;
}

/** Every item of a list asks for its field's selection with the same nodes and variables (a refusal too). */
const lastSelection = new WeakMap<object, { vars: unknown; fragments: unknown; text: string | Error }>();

/**
 * Canonical text of the field's selection set: fields sorted (with their aliases: a resolver that
 * reads `info` may load per alias), fragments expanded, `@skip`/`@include` applied, other
 * directives and arguments with their variables resolved.
 */
export function selectionKey(info: GraphqlInfoLike | undefined): string {
  const nodes = info?.fieldNodes;
  if (nodes === undefined || nodes.length === 0) return '';
  const last = lastSelection.get(nodes);
  let text = last?.vars === info?.variableValues && last?.fragments === info?.fragments ? last?.text : undefined;
  if (text === undefined) {
    const walk: Walk = {
      vars: info?.variableValues ?? {},
      fragments: info?.fragments ?? {},
      texts: new Map(),
      budget: budgetOf(info),
    };
    try {
      // The field's nodes merge (a field selected twice): one set of subfields, as graphql-js collects them.
      text = hashedIfLong(
        levelText(
          nodes.map((node) => node.selectionSet?.selections ?? []),
          walk,
        ),
      );
    } catch (error) {
      text = error instanceof Error ? error : new Error(String(error));
    }
    lastSelection.set(nodes, { vars: info?.variableValues, fragments: info?.fragments, text });
  }
  if (text instanceof Error) throw text;
  return text;
}

function levelText(selectionSets: ReadonlyArray<readonly AstNode[]>, walk: Walk): string {
  const out = new Set<string>();
  const spread = new Set<string>();
  for (const selections of selectionSets) collect(selections, walk, out, spread, new Set(), '');
  return [...out].sort().join(',');
}

/**
 * Adds the texts of `selections` to `out`, `on` naming the fragments they sit in. A fragment is
 * expanded once per level under the same fragments (`spread`), as graphql-js does, and never
 * inside itself (`path`: a cycle, which validation refuses anyway).
 */
function collect(
  selections: readonly AstNode[],
  walk: Walk,
  out: Set<string>,
  spread: Set<string>,
  path: Set<string>,
  on: string,
): void {
  for (const sel of selections) {
    if (--walk.budget.room < 0)
      throw new Error(
        `its GraphQL operation's cached fields visit more than ${MAX_SELECTIONS} selections once fragments are expanded`,
      );
    if (!included(sel.directives, walk.vars)) continue;
    if (sel.kind === 'Field') {
      const text = on + fieldText(sel, walk);
      if ((walk.budget.chars -= text.length) < 0)
        throw new Error(
          `its GraphQL operation's cached fields spell more than ${MAX_SELECTION_CHARS} characters of selection once fragments are expanded`,
        );
      out.add(text);
    } else if (sel.kind === 'InlineFragment') {
      collect(sel.selectionSet?.selections ?? [], walk, out, spread, path, fragmentPrefix(on, sel, sel, walk));
    } else if (sel.kind === 'FragmentSpread') {
      const name = sel.name?.value ?? '';
      const fragment = Object.hasOwn(walk.fragments, name) ? walk.fragments[name] : undefined;
      if (fragment === undefined || path.has(name)) continue;
      const prefix = fragmentPrefix(on, fragment, sel, walk);
      const mark = `${name}\u0000${prefix}`;
      if (spread.has(mark)) continue;
      spread.add(mark);
      path.add(name);
      collect(fragment.selectionSet?.selections ?? [], walk, out, spread, path, prefix);
      path.delete(name);
    }
  }
}

/** What a fragment's fields sit in: its type condition, the directives at the spread and on the fragment. */
function fragmentPrefix(on: string, fragment: AstNode, site: AstNode, walk: Walk): string {
  const type = fragment.typeCondition?.name.value;
  const own = fragment === site ? '' : directivesText(fragment.directives, walk.vars);
  return `${on}${type ? `...on ${type}` : ''}${directivesText(site.directives, walk.vars)}${own ? `&${own}` : ''} `;
}

const hashedIfLong = (text: string) =>
  text.length > HASHED_FROM ? `#${createHash('sha256').update(text).digest('base64url')}` : text;

function fieldText(field: AstNode, walk: Walk): string {
  const known = walk.texts.get(field);
  if (known !== undefined) return known;
  const name = field.name?.value ?? '?';
  const alias = field.alias?.value;
  const args = field.arguments?.length ? `(${argumentTexts(field.arguments, walk.vars).sort().join(',')})` : '';
  let sub = '';
  if (field.selectionSet) {
    sub = `{${hashedIfLong(levelText([field.selectionSet.selections], walk))}}`;
  }
  const text = `${alias !== undefined && alias !== name ? `${alias}:` : ''}${name}${args}${directivesText(field.directives, walk.vars)}${sub}`;
  walk.texts.set(field, text);
  return text;
}

/** `@skip(if: true)` or `@include(if: false)`: not selected at all, as graphql-js decides. */
function included(directives: readonly AstDirective[] | undefined, vars: Record<string, unknown>): boolean {
  if (!directives?.length) return true;
  for (const d of directives) {
    const name = d.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    const value = arg === undefined ? undefined : astValue(arg.value, vars);
    if ((name === 'skip' && value === true) || (name === 'include' && value === false)) return false;
  }
  return true;
}

/** Directives other than `@skip`/`@include` (applied above): a resolver may read them. */
function directivesText(directives: readonly AstDirective[] | undefined, vars: Record<string, unknown>): string {
  if (!directives?.length) return '';
  let text = '';
  for (const d of directives) {
    const name = d.name.value;
    if (name === 'skip' || name === 'include') continue;
    text += `@${name}(${argumentTexts(d.arguments ?? [], vars).join(',')})`;
  }
  return text;
}

/** `name:value` of each argument. Variables are resolved, so `posts(first: $n)` with n=5 and n=50 differ. */
function argumentTexts(args: readonly AstArgument[], vars: Record<string, unknown>): string[] {
  return args.map((a) => `${a.name.value}:${encodeValue(astValue(a.value, vars), 'a GraphQL selection', 'selection')}`);
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
    return `key:${encodeValue(named(custom.call(parent), "its parent's cacheKey()"), 'a GraphQL parent', 'parent.cacheKey()')}`;
  if (parentKey !== undefined)
    return `by:${encodeValue(named(parentKey(parent as never), 'its parentKey option'), 'a GraphQL parent', 'parentKey')}`;
  const encoded = encodeValue(parent, 'a GraphQL parent', 'parent');
  return `#${createHash('sha256').update(encoded).digest('base64url')}`;
}

const shown = (v: unknown) =>
  typeof v === 'object' && v !== null ? 'an object or array of missing values' : String(v);

/** A parent identity that names no parent (`p.id` of a parent loaded without its id) would make every parent share one answer. */
function named(identity: unknown, what: string): unknown {
  if (lacksIdentity(identity))
    throw new Error(
      `${what} named no parent (${shown(identity)}), and every parent would share one answer. A client ` +
        'may not have selected the id it reads: load it whatever the selection, or return another identity',
    );
  return identity;
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
  const selection = selectionKey(info);
  // The field's own directives and the operation's (other than @skip/@include): a resolver may read them.
  const own = (info?.fieldNodes ?? []).map((node) => directivesText(node.directives, info?.variableValues ?? {}));
  const operation = directivesText(info?.operation?.directives, info?.variableValues ?? {});
  const directives = own.some((d) => d !== '') || operation !== '' ? { own, operation } : undefined;
  return { host, endpoint: request.route, field, parent, args: request.data, selection, directives, vary };
}
