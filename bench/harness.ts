/**
 * A tiny benchmark harness: each case runs for a fixed time per round, cases interleave
 * (A B C C B A ...) so machine noise hits all of them alike, and the median round is reported.
 * Absolute numbers mean little on a shared machine; the ratios are the result.
 */
export interface BenchCase {
  name: string;
  /** One operation; awaited. */
  run: (i: number) => unknown;
}

export interface BenchResult {
  name: string;
  opsPerSec: number;
}

export interface BenchOptions {
  rounds?: number;
  roundMs?: number;
  warmupMs?: number;
  /** Callers running at once (each awaits its previous call). Default 1. */
  concurrency?: number;
}

export async function bench(cases: BenchCase[], opts: BenchOptions = {}): Promise<BenchResult[]> {
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 300;
  const concurrency = opts.concurrency ?? 1;
  const once = (c: BenchCase, ms: number) => (concurrency === 1 ? runFor(c, ms) : runConcurrent(c, ms, concurrency));
  for (const c of cases) await once(c, opts.warmupMs ?? 300);
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    // Every other round in reverse order: neither case always runs right after the other's garbage.
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) samples.get(c.name)!.push(await once(c, roundMs));
  }
  return cases.map((c) => ({ name: c.name, opsPerSec: median(samples.get(c.name)!) }));
}

async function runConcurrent(c: BenchCase, ms: number, concurrency: number): Promise<number> {
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await c.run(ops++);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (ops * 1000) / (performance.now() - start);
}

async function runFor(c: BenchCase, ms: number): Promise<number> {
  const start = performance.now();
  const end = start + ms;
  let ops = 0;
  let yielded = start;
  // Check the clock every 256 ops so timing does not dominate.
  while (true) {
    for (let i = 0; i < 256; i++) {
      const r = c.run(ops++);
      if (r !== undefined && typeof (r as Promise<unknown>).then === 'function') await (r as Promise<unknown>);
    }
    const now = performance.now();
    if (now >= end) break;
    // Awaiting settled promises never lets I/O run: a server handles its sockets between requests,
    // and so does this loop every few milliseconds (a tiered store's bus replies arrive).
    if (now - yielded > 5) {
      await new Promise<void>((r) => setImmediate(r));
      yielded = performance.now();
    }
  }
  return (ops * 1000) / (performance.now() - start);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

export interface RecordedRatio {
  label: string;
  numerator: string;
  denominator: string;
  value: number;
}

/** One printed table: what `--json` writes (bench/report.ts). */
export interface RecordedTable {
  title: string;
  results: BenchResult[];
  ratios: RecordedRatio[];
}

const recorded: RecordedTable[] = [];

/** Every table printed so far in this process, in order. */
export function recordedTables(): readonly RecordedTable[] {
  return recorded;
}

/** Name of the case with the most ops/s among `names`. */
export function fastestOf(results: BenchResult[], names: string[]): string {
  return results.filter((r) => names.includes(r.name)).sort((a, b) => b.opsPerSec - a.opsPerSec)[0].name;
}

export function printTable(title: string, results: BenchResult[], baselines: Record<string, string>): void {
  console.log(`\n${title}`);
  const byName = new Map(results.map((r) => [r.name, r]));
  for (const r of results)
    console.log(`  ${r.name.padEnd(44)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)} ops/s`);
  const ratios: RecordedRatio[] = [];
  for (const [label, pair] of Object.entries(baselines)) {
    const [numerator, denominator] = pair.split(' / ');
    const value = byName.get(numerator)!.opsPerSec / byName.get(denominator)!.opsPerSec;
    ratios.push({ label, numerator, denominator, value });
    console.log(`  ratio ${label.padEnd(38)} ${value.toFixed(2)}x`);
  }
  recorded.push({ title, results, ratios });
}
