/** Values of GraphQL argument ASTs (graphql-key.ts), read structurally: graphql-js is not loaded. */

export interface AstArgument {
  name: { value: string };
  value: unknown;
}

/** A Float literal that no JS number spells back exactly (`1.50`, `1e3`, more digits than a double holds). */
class FloatLiteral {
  constructor(readonly text: string) {}
  toJSON(): string {
    return this.text;
  }
}

/**
 * The value of an argument's AST, variables resolved: what graphql-js' valueFromASTUntyped gives
 * (so keys are those of earlier versions), without loading graphql-js, and without its losses: an
 * Int beyond 2^53 is a BigInt, and a Float literal that a number does not spell back is kept as
 * written (a BigInt or Decimal scalar's parseLiteral tells them apart). Neither can be spelled by
 * a variable's JSON.
 */
export function astValue(node: unknown, vars: Record<string, unknown>): unknown {
  const n = node as {
    kind?: string;
    value?: string | boolean;
    name?: { value: string };
    values?: readonly unknown[];
    fields?: readonly AstArgument[];
  };
  switch (n?.kind) {
    case 'Variable':
      return n.name === undefined ? undefined : vars[n.name.value];
    case 'NullValue':
      return null;
    case 'IntValue': {
      const value = Number(n.value);
      return Number.isSafeInteger(value) ? value : BigInt(String(n.value));
    }
    case 'FloatValue': {
      const value = Number(n.value);
      return String(value) === n.value ? value : new FloatLiteral(String(n.value));
    }
    case 'StringValue':
    case 'EnumValue':
    case 'BooleanValue':
      return n.value;
    case 'ListValue':
      return (n.values ?? []).map((v) => astValue(v, vars));
    case 'ObjectValue': {
      const out: Record<string, unknown> = {};
      for (const field of n.fields ?? [])
        Object.defineProperty(out, field.name.value, { value: astValue(field.value, vars), enumerable: true });
      return out;
    }
    default:
      return stripLocations(node); // not a value node graphql-js knows: keyed as it is
  }
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
