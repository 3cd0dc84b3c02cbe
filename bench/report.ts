// The machine-readable result of a benchmark run (`--json <file>`): every table the run printed,
// with the medians and ranges over `--repeat` runs. bench/chart.ts draws from these files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { RecordedTable } from './harness';

export interface Spread {
  /** Median over the runs (each run's figure is itself the median of its rounds). */
  median: number;
  min: number;
  max: number;
}

export interface CaseReport extends Spread {
  name: string;
}

export interface RatioReport extends Spread {
  label: string;
  numerator: string;
  /** The case divided by; for "the fastest of" ratios, every case that was the fastest in some run. */
  denominator: string;
}

export interface TableReport {
  title: string;
  runs: number;
  /** ops/s per case. */
  cases: CaseReport[];
  /** Ratios are taken within each run (both sides measured interleaved), then summarised. */
  ratios: RatioReport[];
}

export interface BenchReport {
  command: string;
  date: string;
  machine: { note: string; cpu: string; cores: number; memoryGiB: number; node: string; loadAverage: string };
  tables: TableReport[];
}

export const MACHINE_NOTE =
  process.env.BENCH_MACHINE_NOTE ?? 'shared 2-core machine, noisy: read the ratios (measured in the same run)';

export function summarise(tables: readonly RecordedTable[]): TableReport[] {
  const byTitle = new Map<string, RecordedTable[]>();
  for (const t of tables) byTitle.set(t.title, [...(byTitle.get(t.title) ?? []), t]);
  return [...byTitle.entries()].map(([title, runs]) => ({
    title,
    runs: runs.length,
    cases: runs[0].results.map((r) => ({
      name: r.name,
      ...spread(runs.map((run) => run.results.find((x) => x.name === r.name)!.opsPerSec)),
    })),
    ratios: runs[0].ratios.map((r) => {
      const all = runs.map((run) => run.ratios.find((x) => x.label === r.label)!);
      return {
        label: r.label,
        numerator: r.numerator,
        denominator: [...new Set(all.map((x) => x.denominator))].join(' | '),
        ...spread(all.map((x) => x.value)),
      };
    }),
  }));
}

export function writeReport(path: string, command: string, tables: readonly RecordedTable[]): void {
  const report: BenchReport = {
    command,
    date: new Date().toISOString(),
    machine: {
      note: MACHINE_NOTE,
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAverage: loadavg()
        .map((l) => l.toFixed(2))
        .join(' '),
    },
    tables: summarise(tables),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${path}`);
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  // Even counts: the mean of the middle two.
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median: round(median), min: round(sorted[0]), max: round(sorted[sorted.length - 1]) };
}

/** Four significant digits: ops/s and ratios are noisy far beyond that. */
function round(n: number): number {
  return Number(n.toPrecision(4));
}
