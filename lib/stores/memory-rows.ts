import { KeySpaces } from './key-spaces';

/** Numbers per row, in one Float64Array: store expiry, then the engine's four. */
export const STRIDE = 5;
export const EXPIRES = 0;
export const AT = 1;
export const FRESH = 2;
export const STALE = 3;
export const SUM = 4;
/** Per row, in one Int32Array: previous, next, space id, size in bytes, recency (wrapping), the engine's signature. */
export const LINKS = 6;
export const PREV = 0;
export const NEXT = 1;
export const SPACE = 2;
export const SIZE = 3;
export const SEQ = 4;
export const SIG = 5;

/**
 * The memory store's columns: for each row, three slots of one array (value, meta, the key's rest
 * in its space), five numbers of one Float64Array and six of one Int32Array, and the recency list
 * threaded through them (oldest first). Rows are numbers, never objects.
 */
export abstract class MemoryRows {
  abstract readonly maxEntries: number;
  protected readonly spaces = new KeySpaces();
  /** value, meta, rest of each row. */
  protected refs: unknown[] = [];
  protected nums = new Float64Array(0);
  /** previous (older), next (younger), space id of each row; -1: none. */
  protected links = new Int32Array(0);
  protected oldest = -1;
  protected youngest = -1;
  protected count = 0;
  /** Rows allocated so far (the high-water mark); freed ones wait in `free`. */
  protected top = 0;
  protected free: number[] = [];

  valueAt(row: number): unknown {
    return this.refs[row * 3];
  }

  metaAt(row: number): object | undefined {
    return this.refs[row * 3 + 1] as object | undefined;
  }

  atOf(row: number): number {
    return this.nums[row * STRIDE + AT];
  }

  freshUntilOf(row: number): number {
    return this.nums[row * STRIDE + FRESH];
  }

  staleUntilOf(row: number): number {
    return this.nums[row * STRIDE + STALE];
  }

  sumOf(row: number): number {
    return this.nums[row * STRIDE + SUM];
  }

  sigOf(row: number): number {
    return this.links[row * LINKS + SIG];
  }

  checkedAt(row: number, at: number): void {
    this.nums[row * STRIDE + AT] = at;
  }

  protected allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const row = this.top++;
    if (row * STRIDE === this.nums.length) {
      // Grows by half while small, then by an eighth (less room left unused; copying the columns
      // is cheap), never past the most rows the store can hold at once.
      this.resize(Math.min(this.maxEntries + 1, row + (row >>> (row < 4_096 ? 1 : 3)) + 16));
    }
    return row;
  }

  private resize(rows: number): void {
    const nums = new Float64Array(rows * STRIDE);
    nums.set(this.nums);
    const links = new Int32Array(rows * LINKS);
    links.set(this.links);
    this.nums = nums;
    this.links = links;
    // The slots grow with the columns: pushing would leave them V8's own room (half again) unused.
    this.refs.length = rows * 3;
  }

  protected linkYoungest(row: number): void {
    const links = this.links;
    links[row * LINKS + PREV] = this.youngest;
    links[row * LINKS + NEXT] = -1;
    if (this.youngest >= 0) links[this.youngest * LINKS + NEXT] = row;
    else this.oldest = row;
    this.youngest = row;
  }

  protected unlink(row: number): void {
    const links = this.links;
    const prev = links[row * LINKS + PREV];
    const next = links[row * LINKS + NEXT];
    if (prev >= 0) links[prev * LINKS + NEXT] = next;
    else this.oldest = next;
    if (next >= 0) links[next * LINKS + PREV] = prev;
    else this.youngest = prev;
  }

  /**
   * Renumbers the rows, oldest first, into new columns once fewer than a quarter of those
   * allocated are in use, so a store that was emptied does not keep its columns at their largest.
   */
  protected shrinkIfSparse(): void {
    if (this.top <= 64 || this.count >= this.top >>> 2) return;
    const live = this.count;
    const old = { nums: this.nums, links: this.links, refs: this.refs };
    const rows = live + (live >>> 1) + 16;
    this.nums = new Float64Array(rows * STRIDE);
    this.links = new Int32Array(rows * LINKS);
    const refs: unknown[] = [];
    let next = 0;
    for (let row = this.oldest; row >= 0; row = old.links[row * LINKS + NEXT], next++) {
      for (let i = 0; i < STRIDE; i++) this.nums[next * STRIDE + i] = old.nums[row * STRIDE + i];
      for (let i = 0; i < LINKS; i++) this.links[next * LINKS + i] = old.links[row * LINKS + i];
      const space = old.links[row * LINKS + SPACE];
      const rest = old.refs[row * 3 + 2] as string;
      refs.push(old.refs[row * 3], old.refs[row * 3 + 1], rest);
      this.links[next * LINKS + PREV] = next - 1;
      this.links[next * LINKS + NEXT] = next + 1 < live ? next + 1 : -1;
      this.spaces.list[space].rows.set(rest, next);
    }
    refs.length = rows * 3;
    this.refs = refs;
    this.oldest = live > 0 ? 0 : -1;
    this.youngest = live - 1;
    this.top = next;
    this.free = [];
  }
}
