import { deserialize, serialize } from 'node:v8';
import { taggedJsonSerializer } from 'nestjs-cache-memoize';
import { bench, printTable } from './harness';

/** The default codec against plain JSON (which loses Dates, Maps, BigInts...) and V8's structured clone. */
export async function codecBench(): Promise<void> {
  const user = {
    id: 5,
    name: 'user 5',
    email: 'u5@example.com',
    roles: ['reader', 'writer'],
    createdAt: new Date(1_700_000_000_000),
  };
  const page = { items: Array.from({ length: 50 }, (_, i) => ({ ...user, id: i })), total: 50 };
  for (const [label, value] of [
    ['user (with a Date)', user],
    ['page of 50 users', page],
  ] as const) {
    const json = Buffer.from(JSON.stringify(value));
    const tagged = taggedJsonSerializer.encode(value);
    const v8 = serialize(value);
    const results = await bench(
      [
        { name: 'JSON.parse (lossy baseline)', run: () => JSON.parse(json.toString()) },
        { name: 'tagged-json decode (default)', run: () => taggedJsonSerializer.decode(tagged) },
        { name: 'v8 deserialize', run: () => deserialize(v8) },
        { name: 'JSON.stringify', run: () => Buffer.from(JSON.stringify(value)) },
        { name: 'tagged-json encode (default)', run: () => taggedJsonSerializer.encode(value) },
        { name: 'v8 serialize', run: () => serialize(value) },
      ],
      { rounds: 5, roundMs: 200 },
    );
    printTable(
      `codec, ${label}: tagged ${tagged.byteLength} B, JSON ${json.byteLength} B, v8 ${v8.byteLength} B`,
      results,
      {
        'tagged decode / JSON.parse': 'tagged-json decode (default) / JSON.parse (lossy baseline)',
        'tagged encode / JSON.stringify': 'tagged-json encode (default) / JSON.stringify',
        'v8 decode / JSON.parse': 'v8 deserialize / JSON.parse (lossy baseline)',
      },
    );
  }
}
