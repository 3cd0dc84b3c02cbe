// Draws the hit benchmarks' JSON (bench/report.ts) as one self-contained SVG: a horizontal bar chart
// of ops/s per library, a panel per table, with the numbers, the date and the machine.
//   npm run -s bench -- chart [--out bench/results/hits.svg] [bench/results/memory.json bench/results/redis.json]
// Node only: no charting dependency.
import { readFileSync, writeFileSync } from 'node:fs';
import type { BenchReport, CaseReport, TableReport } from './report';

const DEFAULT_INPUTS = ['bench/results/memory.json', 'bench/results/redis.json'];
const DEFAULT_OUT = 'bench/results/hits.svg';

const WIDTH = 1000;
const LABEL_W = 330;
const BAR_MAX = 420;
const ROW_H = 26;
const BAR_H = 16;
const PAD = 20;
const COLORS = { ours: '#1f77b4', baseline: '#9e9e9e', library: '#ff7f0e' };

export function chart(args: string[]): void {
  const outAt = args.indexOf('--out');
  const out = outAt === -1 ? DEFAULT_OUT : args[outAt + 1];
  const inputs = args.filter((a, i) => a !== '--out' && args[i - 1] !== '--out');
  const reports = (inputs.length > 0 ? inputs : DEFAULT_INPUTS).map(
    (path) => [path, JSON.parse(readFileSync(path, 'utf8')) as BenchReport] as const,
  );
  writeFileSync(out, renderSvg(reports.map(([, r]) => r)));
  console.log(`wrote ${out} from ${reports.map(([p]) => p).join(', ')}`);
}

export function renderSvg(reports: BenchReport[]): string {
  const parts: string[] = [];
  let y = PAD;
  parts.push(text(PAD, (y += 18), 'Cache hits: operations per second per library (higher is better)', 18, 'bold'));
  const first = reports[0];
  parts.push(
    text(
      PAD,
      (y += 20),
      `${first.machine.note} — ${first.machine.cpu}, ${first.machine.cores} cores, Node ${first.machine.node}`,
      12,
    ),
  );
  parts.push(
    text(
      PAD,
      (y += 16),
      'Bars: median over runs (each run: median of 7 interleaved rounds); whiskers: lowest–highest run.',
      12,
    ),
  );
  y += 10;
  for (const report of reports) {
    for (const table of report.tables) y = panel(parts, table, report, y + 16);
  }
  y += 20;
  parts.push(legend(y));
  y += 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${y}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function panel(parts: string[], table: TableReport, report: BenchReport, top: number): number {
  let y = top;
  const date = report.date.slice(0, 10);
  parts.push(
    text(PAD, (y += 16), `${table.title} — ${date}, ${table.runs} run${table.runs > 1 ? 's' : ''}`, 14, 'bold'),
  );
  parts.push(text(PAD, (y += 16), report.command, 11, 'normal', '#555555', 'monospace'));
  y += 8;
  const cases = [...table.cases].sort((a, b) => b.median - a.median);
  const scale = BAR_MAX / Math.max(...cases.map((c) => c.max));
  const x0 = PAD + LABEL_W;
  for (const c of cases) {
    const mid = y + ROW_H / 2;
    const w = Math.max(1, c.median * scale);
    parts.push(text(x0 - 8, mid + 4, c.name, 12, kind(c) === 'ours' ? 'bold' : 'normal', '#222222', undefined, 'end'));
    parts.push(
      `<rect x="${x0}" y="${(mid - BAR_H / 2).toFixed(1)}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLORS[kind(c)]}"/>`,
    );
    if (table.runs > 1) {
      const [a, b] = [x0 + c.min * scale, x0 + c.max * scale].map((v) => v.toFixed(1));
      parts.push(
        `<path d="M${a} ${mid}H${b}M${a} ${mid - 4}V${mid + 4}M${b} ${mid - 4}V${mid + 4}" stroke="#333333"/>`,
      );
    }
    const range = table.runs > 1 ? ` (${short(c.min)}–${short(c.max)})` : '';
    parts.push(text(x0 + c.max * scale + 6, mid + 4, `${Math.round(c.median).toLocaleString('en-US')}${range}`, 11));
    y += ROW_H;
  }
  y += 4;
  for (const r of table.ratios) {
    const range = table.runs > 1 ? ` (runs: ${r.min.toFixed(2)}–${r.max.toFixed(2)})` : '';
    const which = r.label.includes('fastest') ? ` — fastest: ${r.denominator.replace(/ \(.*?\)/g, '')}` : '';
    parts.push(text(x0, (y += 15), `${r.label}: ${r.median.toFixed(2)}×${range}${which}`, 11, 'normal', '#333333'));
  }
  return y;
}

function legend(y: number): string {
  const items: [keyof typeof COLORS, string][] = [
    ['ours', 'nestjs-cache-memoize (@CacheMemoize)'],
    ['library', 'other caching libraries'],
    ['baseline', 'baseline (no cache library)'],
  ];
  let x = PAD;
  return items
    .map(([k, label]) => {
      const s = `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[k]}"/>${text(x + 18, y + 11, label, 12)}`;
      x += 48 + label.length * 7;
      return s;
    })
    .join('\n');
}

function kind(c: CaseReport): keyof typeof COLORS {
  if (c.name.startsWith('@CacheMemoize')) return 'ours';
  if (c.name.startsWith('floor') || c.name.startsWith('raw')) return 'baseline';
  return 'library';
}

function short(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${Math.round(n / 1e3)}k` : String(Math.round(n));
}

function text(
  x: number,
  y: number,
  content: string,
  size: number,
  weight = 'normal',
  fill = '#222222',
  family?: string,
  anchor = 'start',
): string {
  const fam = family ? ` font-family="${family}"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" font-weight="${weight}" fill="${fill}" text-anchor="${anchor}"${fam}>${escape(content)}</text>`;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
