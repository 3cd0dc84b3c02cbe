/** The tagged-JSON format shared by its encoder and its reviver. */
export const TAG = '$t';
/** Deeper values are refused: the walk and JSON.parse must never exhaust the stack. */
export const MAX_DEPTH = 512;
/**
 * The largest encoded value: what a reader inflates at most (a compressed entry larger than this
 * is refused when read), so nothing larger is worth writing. The encoder stops past it, whatever
 * the value's size in memory: JSON has no sharing, so a value whose sub-objects are referenced
 * from several places is written once per reference and can expand without bound.
 */
export const MAX_ENCODED_BYTES = 64 * 1024 * 1024;
export type Tagged = { [TAG]: string; v?: unknown; c?: string };

type TypedArrayClass = new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView;
/** A Map, not an object: a stored name such as 'constructor' must find nothing. */
export const TYPED_ARRAYS = new Map<string, TypedArrayClass>(
  Object.entries({
    Int8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  }),
);
