import { NamespaceConflictError } from '../errors';

export type Kind = 'provider' | 'handler' | 'batch';

export interface NamespaceClaim {
  cls: Function;
  owner: string;
  kind: Kind;
  /** Where its entries live: methods sharing items must agree on both. */
  keyBase?: string;
  store?: string;
  /** Checks values read back (validate): methods sharing items must agree, or one serves the old shape. */
  validates?: boolean;
  /** storeResult: false — its entries hold a marker, which a batch sharing them would return as the item. */
  marks?: boolean;
  module?: string;
}

/** Which methods hold a namespace, and the rules for sharing one. */
export class NamespaceClaims {
  private readonly claims = new Map<string, NamespaceClaim[]>();

  /**
   * Two distinct provider classes (even of the same name, in different modules), or two methods,
   * would read and overwrite each other's entries under one namespace. Handler classes may share
   * one, since their keys carry the route.
   */
  claim(namespace: string, claim: NamespaceClaim, where: string): void {
    const claims = this.claims.get(namespace) ?? [];
    const same = (c: NamespaceClaim) => c.cls === claim.cls && c.owner === claim.owner;
    // Handler keys carry the route; a batch method shares its items with single methods on purpose.
    const shares = (c: NamespaceClaim) =>
      (c.kind === 'handler' && claim.kind === 'handler' && c.cls !== claim.cls) ||
      (c.kind !== 'handler' && claim.kind !== 'handler' && (c.kind === 'batch' || claim.kind === 'batch'));
    const other = claims.find((c) => !same(c) && !shares(c));
    if (other !== undefined) {
      const describe = (c: NamespaceClaim) => `${c.owner} (class ${c.cls.name}${c.module ? ` in ${c.module}` : ''})`;
      throw new NamespaceConflictError(
        `${where}: namespace '${namespace}' is already used by ${describe(other)}; ${describe(claim)} is ${other.cls === claim.cls ? 'another method' : 'a different class'}, ` +
          `so their entries would overwrite each other. Give one of them a distinct namespace option, ` +
          `e.g. @CacheMemoize({ namespace: '${claim.module ? `${claim.module}.` : ''}${claim.owner}' }).`,
      );
    }
    const apart = claims.find(
      (c) =>
        !same(c) &&
        c.kind !== 'handler' &&
        (c.keyBase !== claim.keyBase ||
          c.store !== claim.store ||
          c.validates !== claim.validates ||
          c.marks !== claim.marks),
    );
    if (apart !== undefined) {
      const what =
        apart.store !== claim.store
          ? `store ('${apart.store}' vs '${claim.store}')`
          : apart.keyBase !== claim.keyBase
            ? 'version'
            : apart.validates !== claim.validates
              ? 'validate option (one would serve entries of an old shape that the other refuses)'
              : 'storeResult option (storeResult: false stores a marker, which the other would return as the value)';
      throw new NamespaceConflictError(
        `${where}: shares namespace '${namespace}' with ${apart.owner} but not its ${what}, ` +
          `so they would not share entries safely. Give both the same store, version, validate and storeResult.`,
      );
    }
    if (!claims.some(same)) this.claims.set(namespace, [...claims, claim]);
  }
}
