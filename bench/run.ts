// Runs every benchmark, or the ones named: `npm run bench -- memory`.
import { memoryHitBench } from './memory-hit.bench';

const suites: Record<string, () => Promise<void>> = { memory: memoryHitBench };

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const [name, run] of Object.entries(suites)) {
    if (wanted.length === 0 || wanted.includes(name)) await run();
  }
}

void main();
