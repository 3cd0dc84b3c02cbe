import { deserialize, serialize } from 'node:v8';
import type { Serializer } from './serializer.interface';
import { asBuffer } from './bytes';

/**
 * V8's structured-clone format: Date, Map, Set, BigInt, undefined, -0, Buffer (kept distinct
 * from Uint8Array), typed arrays and nested plain data round-trip exactly. Decoding builds plain
 * objects only (no constructors run, `__proto__` becomes an ordinary own key) and rejects
 * unknown bytes by throwing. Class instances come back as plain objects.
 */
export const v8Serializer: Serializer = {
  name: 'v8',
  encode: (value) => serialize(value),
  decode: (bytes) => deserialize(asBuffer(bytes)),
};
