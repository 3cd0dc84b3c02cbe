/**
 * Child process (argv: hook | event | subscribe): an app whose onMiss hook, onEvent listener or
 * events subscriber is async and rejects. Prints `served <json>` once the call returned, each
 * warning or error the library logged as `logged <text>`, then `alive` 200 ms later. Node's
 * default ends the process on an unhandled rejection, before `alive`.
 */
import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CacheMemoize, CacheMemoizeEngine, CacheMemoizeModule, memoryStore } from '../../lib';

const mode = process.argv[2];
const print = (level: string) => (message: unknown) => process.stdout.write(`logged ${level} ${String(message)}\n`);
const logger = { log: () => undefined, warn: print('warn'), error: print('error') };

@Injectable()
class Svc {
  @CacheMemoize({
    ttl: '1m',
    ...(mode === 'hook'
      ? {
          onMiss: async () => {
            throw new Error('metrics backend down');
          },
        }
      : {}),
  })
  async get(id: number) {
    return { id };
  }
}

async function main() {
  const app = await Test.createTestingModule({
    imports: [
      CacheMemoizeModule.forRoot({
        stores: { default: memoryStore() },
        prefix: 'child',
        ...(mode === 'event'
          ? {
              onEvent: async (e: { type: string }) => {
                if (e.type === 'miss') throw new Error('listener failed');
              },
            }
          : {}),
      }),
    ],
    providers: [Svc],
  })
    .setLogger(logger)
    .compile();
  await app.init();
  if (mode === 'subscribe')
    app.get(CacheMemoizeEngine).events.subscribe(async (e) => {
      if (e.type === 'miss') throw new Error('subscriber failed');
    });
  const value = await app.get(Svc).get(1);
  process.stdout.write(`served ${JSON.stringify(value)}\n`);
  await new Promise((r) => setTimeout(r, 200));
  process.stdout.write('alive\n');
  await app.close();
}
void main();
