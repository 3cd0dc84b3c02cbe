import { InvalidOptionError } from '../errors';

/**
 * Loads an optional peer dependency only when a store that needs it is created, so apps that
 * never use Redis or memcached do not need the client installed.
 */
export function optionalRequire<T>(name: string, forWhat: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the point: load an optional peer on demand
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: string }).code === 'MODULE_NOT_FOUND') {
      throw new InvalidOptionError(`${forWhat} needs the '${name}' package: npm install ${name}`);
    }
    throw error;
  }
}
