import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Packs the library and installs the tarball into fresh Nest 11 (CommonJS) and Nest 12 (ESM)
 * apps, which compile against its typings with strict tsc (TypeScript 5.9 and 7) and run. Needs the
 * npm registry.
 */
const root = resolve(__dirname, '../..');
/**
 * A bound on every command: a synchronous call cannot be interrupted by Jest's timeout, and an
 * install from a stalled registry connection once held a CI run for 16 minutes (npm's default
 * fetch timeout is 5 minutes, retried twice). npm gives up on a stalled fetch after 30 s here.
 */
const run = (cmd: string, args: string[], cwd: string, timeout = 120_000) =>
  execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout,
    killSignal: 'SIGKILL',
    env: {
      ...process.env,
      npm_config_loglevel: 'error',
      npm_config_fetch_timeout: '30000',
      npm_config_fetch_retries: '3',
      npm_config_fetch_retry_maxtimeout: '10000',
    },
  });

/** An install, tried again once if the registry failed it or stalled. */
function install(args: string[], cwd: string): void {
  try {
    run('npm', args, cwd, 180_000);
  } catch {
    run('npm', args, cwd, 180_000);
  }
}

describe('packed tarball in a separate Nest app', () => {
  let work: string;
  let tarball: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'ncm-pack-'));
    run('npm', ['pack', '--pack-destination', work], root, 170_000); // builds first
    tarball = join(
      work,
      readdirSync(work).find((f) => f.endsWith('.tgz'))!,
    );
  }, 180_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships the build, its typings, self-contained source maps, README and LICENSE, and nothing else', () => {
    const listing = JSON.parse(run('npm', ['pack', '--dry-run', '--json'], root)) as Array<{
      files: Array<{ path: string }>;
    }>;
    const files = listing[0].files.map((f) => f.path);
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/testing/index.js',
      'dist/testing/index.d.ts',
    ]) {
      expect(files).toContain(required);
    }
    expect(files.filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    // A map whose sources are not shipped is useless: every map carries its sources.
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) {
      const parsed = JSON.parse(readFileSync(join(root, map), 'utf8')) as {
        sources: string[];
        sourcesContent?: string[];
      };
      expect(parsed.sourcesContent?.length).toBe(parsed.sources.length);
    }
  });

  // TypeScript 7 (the native compiler) dropped moduleResolution node10: its projects use nodenext.
  it.each([
    ['Nest 11, CommonJS, TypeScript 5.9', '^11.0.0', 'commonjs', 'commonjs', 'node', '5.9'],
    ['Nest 12, ESM, TypeScript 5.9', '^12.0.0', 'module', 'nodenext', 'nodenext', '5.9'],
    ['Nest 11, CommonJS, TypeScript 7', '^11.0.0', 'commonjs', 'nodenext', 'nodenext', '7'],
    ['Nest 12, ESM, TypeScript 7', '^12.0.0', 'module', 'nodenext', 'nodenext', '7'],
  ])(
    '%s: installs, type-checks (typed API checks included) and runs',
    (_name, nest, type, module, resolution, typescript) => {
      const app = join(work, `app-${type}-ts${typescript}`);
      run('mkdir', ['-p', join(app, 'src')], work);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: `consumer-${type}`, private: true, type }));
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module,
            moduleResolution: resolution,
            strict: true,
            experimentalDecorators: true,
            emitDecoratorMetadata: true,
            skipLibCheck: false,
            types: ['node'],
            rootDir: 'src',
            outDir: 'out',
          },
          include: ['src'],
        }),
      );
      copyFileSync(join(root, 'test/package/consumer-app.ts.txt'), join(app, 'src/main.ts'));
      copyFileSync(join(root, 'test/package/consumer-types.ts.txt'), join(app, 'src/types.ts'));
      install(
        [
          'install',
          '--no-audit',
          '--no-fund',
          tarball,
          `@nestjs/common@${nest}`,
          `@nestjs/core@${nest}`,
          'reflect-metadata',
          'rxjs',
          `typescript@${typescript}`,
          '@types/node@20',
        ],
        app,
      );
      run(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app);
      const out = JSON.parse(run('node', ['out/main.js'], app).trim().split('\n').pop()!);
      expect(out).toEqual({ calls: [1, 1, 2, 3], key: 'smoke:UserService.getUser:0:1' });
    },
    420_000, // two installs at most, and the checks
  );
});
