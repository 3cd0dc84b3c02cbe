// Runs every benchmark, or the ones named: `npm run bench -- memory`.
//   --repeat N     run the named benchmarks N times (medians and ranges in the JSON)
//   --json <file>  write every printed table as JSON (bench/report.ts), e.g. bench/results/memory.json
// `npm run bench -- chart` draws bench/results/{memory,redis}.json as an SVG (bench/chart.ts).
import { batchBench } from './batch.bench';
import { chart } from './chart';
import { codecBench } from './codec.bench';
import { compareBench } from './compare.bench';
import { entriesBench } from './entries.bench';
import { httpBench, httpInprocBench } from './http.bench';
import { invalidateBench } from './invalidate.bench';
import { stampedeBench } from './stampede.bench';
import { tieredBench } from './tiered.bench';
import { memoryEntryBench } from './memory-entry.bench';
import { memoryHitBench } from './memory-hit.bench';
import { memcachedHitBench, redisHitBench } from './shared-hit.bench';
import { recordedTables } from './harness';
import { writeReport } from './report';

const suites: Record<string, (args: string[]) => Promise<void>> = {
  memory: memoryHitBench,
  codec: codecBench,
  redis: redisHitBench,
  memcached: memcachedHitBench,
  invalidate: invalidateBench,
  stampede: stampedeBench,
  http: httpBench,
  'http-inproc': httpInprocBench,
  tiered: tieredBench,
  batch: batchBench,
  'memory-entry': memoryEntryBench,
  entries: entriesBench,
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const [first, ...rest] = args;
  // `compare <rev>`: before/after of two builds (not part of the default run).
  if (first === 'compare') await compareBench(rest);
  else if (first === 'chart') chart(rest);
  else {
    const json = option(args, '--json');
    const repeat = Number(option(args, '--repeat') ?? 1);
    if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat takes a positive integer');
    const wanted = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
    const unknown = wanted.filter((w) => !(w in suites));
    if (unknown.length > 0)
      throw new Error(`unknown benchmark ${unknown.join(', ')}: ${Object.keys(suites).join('|')}`);
    for (let r = 0; r < repeat; r++) {
      if (repeat > 1) console.log(`\n=== run ${r + 1} of ${repeat}`);
      for (const [name, run] of Object.entries(suites)) {
        if (wanted.length === 0 || wanted.includes(name)) await run([]);
      }
    }
    if (json !== undefined) writeReport(json, `npm run -s bench -- ${args.join(' ')}`, recordedTables());
  }
  process.exit(0);
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  if (args[i + 1] === undefined) throw new Error(`${name} needs a value`);
  return args[i + 1];
}

void main();
