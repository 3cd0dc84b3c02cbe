// Runs every benchmark, or the ones named: `npm run bench -- memory`.
import { batchBench } from './batch.bench';
import { codecBench } from './codec.bench';
import { compareBench } from './compare.bench';
import { entriesBench } from './entries.bench';
import { httpBench } from './http.bench';
import { invalidateBench } from './invalidate.bench';
import { stampedeBench } from './stampede.bench';
import { tieredBench } from './tiered.bench';
import { memoryEntryBench } from './memory-entry.bench';
import { memoryHitBench } from './memory-hit.bench';
import { memcachedHitBench, redisHitBench } from './shared-hit.bench';

const suites: Record<string, (args: string[]) => Promise<void>> = {
  memory: memoryHitBench,
  codec: codecBench,
  redis: redisHitBench,
  memcached: memcachedHitBench,
  invalidate: invalidateBench,
  stampede: stampedeBench,
  http: httpBench,
  tiered: tieredBench,
  batch: batchBench,
  'memory-entry': memoryEntryBench,
  entries: entriesBench,
};

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  // `compare <rev>`: before/after of two builds (not part of the default run).
  if (first === 'compare') await compareBench(rest);
  else {
    const wanted = process.argv.slice(2);
    for (const [name, run] of Object.entries(suites)) {
      if (wanted.length === 0 || wanted.includes(name)) await run([]);
    }
  }
  process.exit(0);
}

void main();
