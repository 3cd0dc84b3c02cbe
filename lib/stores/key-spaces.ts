import { flatString } from '../util/flat-string';

/** Keys that start with `name` (a method's `prefix:namespace:version:`), indexed by the rest. */
export class KeySpace {
  readonly rows = new Map<string, number>();
  constructor(
    readonly id: number,
    readonly name: string,
  ) {}

  /** The part of a key in this space after its name (the root's: the whole key). */
  restOf(key: string): string {
    return key.slice(this.name.length);
  }
}

/**
 * The memory store's index: one map per key space, so a lookup hashes the short part of a key that
 * differs between entries (the arguments), not the whole key — a fresh string's hash costs its
 * length on every call, and the shared part is most of it. A key lives in the longest registered
 * space that starts it (the root space, named '', when none does); a space registered after keys
 * it starts were stored takes them over. Spaces are few (one per memoized method and prefix) and
 * are never dropped.
 */
export class KeySpaces {
  readonly root = new KeySpace(0, '');
  /** By id. */
  readonly list: KeySpace[] = [this.root];
  private readonly byName = new Map<string, KeySpace>([['', this.root]]);
  /** One space starts another: lookups by (space, rest) must then go through the whole key. */
  nested = false;
  /** The space the last whole key was found in: most whole-key calls in a row share one. */
  private last: KeySpace = this.root;

  /** The space named `name`, registered on first use. */
  named(name: string): KeySpace {
    return this.byName.get(name) ?? this.register(name);
  }

  /** The space a whole key lives in: the longest registered space that starts it. */
  of(key: string): KeySpace {
    const last = this.last;
    // Without nesting, at most one space starts a key: a match is the match.
    if (!this.nested && last.id !== 0 && key.startsWith(last.name)) return last;
    let best = this.root;
    const list = this.list;
    for (let i = 1; i < list.length; i++) {
      const space = list[i];
      if (space.name.length > best.name.length && key.startsWith(space.name)) best = space;
    }
    if (best.id !== 0) this.last = best;
    return best;
  }

  /** Drops every key (the spaces stay registered). */
  clear(): void {
    for (const space of this.list) space.rows.clear();
  }

  /** Registers a space; it takes over the stored keys it starts from shorter spaces (see onMove). */
  private register(name: string): KeySpace {
    const space = new KeySpace(this.list.length, flatString(name));
    for (let i = 1; i < this.list.length; i++) {
      const other = this.list[i].name;
      if (other.startsWith(name) || name.startsWith(other)) this.nested = true;
    }
    this.byName.set(space.name, space);
    this.list.push(space);
    for (const shorter of this.list) {
      if (shorter === space || !name.startsWith(shorter.name)) continue;
      for (const [rest, row] of shorter.rows) {
        const key = shorter.name + rest;
        if (!key.startsWith(name)) continue;
        const moved = flatString(key.slice(name.length));
        shorter.rows.delete(rest);
        space.rows.set(moved, row);
        this.onMove(row, space, moved);
      }
    }
    return space;
  }

  /** Set by the store: told of every key moved to a new space, to keep its per-row record of it. */
  onMove: (row: number, space: KeySpace, rest: string) => void = () => undefined;
}
