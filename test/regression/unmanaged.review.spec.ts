/**
 * Adversarial review of memoized methods on classes Nest does not create (the prototype
 * dispatcher, issue 19) and of what the decorator's new descriptor replacement does to providers.
 */
import 'reflect-metadata';
import {
  Controller,
  Get,
  Injectable,
  Logger,
  SetMetadata,
  UseGuards,
  type CanActivate,
  type OnModuleInit,
} from '@nestjs/common';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import request from 'supertest';
import { CacheMemoize, CacheMemoizeModule, memoryStore, type CacheMemoizeModuleOptions } from '../../lib';
import { uniquePrefix } from '../support/shared-servers';

/** Every module a test opens is closed after it, failed or not (a leaked app would stay the binder). */
const opened: TestingModule[] = [];
afterEach(async () => {
  for (const m of opened.splice(0).reverse()) await m.close().catch(() => undefined);
});

async function boot(options: Partial<CacheMemoizeModuleOptions> = {}, providers: Function[] = []) {
  const module: TestingModule = await Test.createTestingModule({
    imports: [
      DiscoveryModule,
      CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('rvunm'), ...options }),
    ],
    providers: providers as never[],
  }).compile();
  opened.push(module);
  await module.init();
  return module;
}

/** A decorator read the way @nestjs/schedule, @nestjs/event-emitter and DiscoveryService read them: from instance[method]. */
const Listens = DiscoveryService.createDecorator<string>();
const ON_EVENT = 'review:on-event';
const OnEvent = (name: string) => SetMetadata(ON_EVENT, name);

@Injectable()
class Jobs {
  @Listens('above')
  @OnEvent('user.created')
  @CacheMemoize({ instanceKey: () => 'shared' })
  async above(): Promise<number> {
    return 1;
  }

  @CacheMemoize({ instanceKey: () => 'shared' })
  @Listens('below')
  @OnEvent('user.deleted')
  async below(): Promise<number> {
    return 2;
  }
}

describe('other decorators on a memoized provider method', () => {
  it('keep their metadata on the instance whichever side of @CacheMemoize they are', async () => {
    const module = await boot({}, [Jobs]);
    const discovery = module.get(DiscoveryService);
    const wrapper = discovery.getProviders().find((w) => w.metatype === Jobs)!;
    const jobs = module.get(Jobs);
    // Below @CacheMemoize: fine.
    expect(discovery.getMetadataByDecorator(Listens, wrapper, 'below')).toBe('below');
    expect(Reflect.getMetadata(ON_EVENT, jobs.below)).toBe('user.deleted');
    // Above @CacheMemoize: written on the prototype dispatcher, which the explorer's wrapper does not copy.
    expect(discovery.getMetadataByDecorator(Listens, wrapper, 'above')).toBe('above');
    expect(Reflect.getMetadata(ON_EVENT, jobs.above)).toBe('user.created');
    await module.close();
  });
});

describe('memoized methods on hand-made instances', () => {
  it("without instanceKey, two different instances do not get each other's result", async () => {
    class Money {
      constructor(readonly cents: number) {}
      @CacheMemoize()
      async format(locale: string): Promise<string> {
        return `${(this.cents / 100).toFixed(2)} (${locale})`;
      }
    }
    const module = await boot();
    expect(await new Money(150).format('en')).toBe('1.50 (en)');
    // The README's own example says instanceKey is "required" when the method reads instance state.
    expect(await new Money(999).format('en')).toBe('9.99 (en)');
    await module.close();
  });

  it('subclasses that inherit a decorated method do not share entries with each other', async () => {
    class Shape {
      constructor(readonly id: number) {}
      @CacheMemoize({ instanceKey: (self: Shape) => self.id })
      async describe(): Promise<string> {
        return `${this.constructor.name} #${this.id}`;
      }
    }
    class Circle extends Shape {}
    class Square extends Shape {}
    const module = await boot();
    expect(await new Circle(1).describe()).toBe('Circle #1');
    // Providers are registered per concrete class (instance.constructor); here both map to Shape.describe.
    expect(await new Square(1).describe()).toBe('Square #1');
    await module.close();
  });

  it("calls from a provider's onModuleInit (a warm-up) are memoized, or at least warned about", async () => {
    const warnings: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((m: unknown) => void warnings.push(String(m)));
    let runs = 0;
    class Catalog {
      @CacheMemoize({ instanceKey: () => 'shared' })
      async items(): Promise<number> {
        return ++runs;
      }
    }
    @Injectable()
    class Warmup implements OnModuleInit {
      async onModuleInit(): Promise<void> {
        await new Catalog().items();
        await new Catalog().items();
      }
    }
    const module = await boot({}, [Warmup]);
    spy.mockRestore();
    const memoized = runs === 1;
    const warned = warnings.some((w) => w.includes('Catalog.items'));
    expect({ runs, memoized, warned }).toEqual(expect.objectContaining({ memoized: true }));
    await module.close();
  });

  it('an app with enabled: false initialized last does not turn memoization off for the enabled app', async () => {
    let runs = 0;
    class Rates {
      @CacheMemoize({ instanceKey: () => 'shared' })
      async rate(): Promise<number> {
        return ++runs;
      }
    }
    const main = await boot();
    await new Rates().rate();
    await new Rates().rate();
    expect(runs).toBe(1);
    // e.g. a CLI context or a test module built in the same process with caching disabled.
    const script = await boot({ enabled: false });
    await new Rates().rate();
    expect(runs).toBe(1); // main is still up and enabled
    await script.close();
    await main.close();
  });
});

@Injectable()
class AllowAll implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

let hits = 0;
@Controller('order')
class OrderController {
  @Get('get-above')
  @UseGuards(AllowAll)
  @CacheMemoize({ ttl: '1m' })
  above() {
    return { run: ++hits };
  }

  @CacheMemoize({ ttl: '1m' })
  @UseGuards(AllowAll)
  @Get('get-below')
  below() {
    return { run: ++hits };
  }
}

describe('route handlers, either decorator order (sanity: expected to pass)', () => {
  it('are routed, guarded and cached once', async () => {
    const module = await Test.createTestingModule({
      imports: [CacheMemoizeModule.forRoot({ stores: { default: memoryStore() }, prefix: uniquePrefix('rvroute') })],
      controllers: [OrderController],
      providers: [AllowAll],
    }).compile();
    const app = module.createNestApplication({ logger: false });
    await app.init();
    for (const path of ['/order/get-above', '/order/get-below']) {
      const first = await request(app.getHttpServer()).get(path).expect(200);
      const second = await request(app.getHttpServer()).get(path).expect(200);
      expect(second.body).toEqual(first.body);
    }
    expect(hits).toBe(2);
    await app.close();
  });
});
