/** The tagged-JSON format shared by its encoder and its reviver. */
export const TAG = '$t';
/** Deeper values are refused: the walk and JSON.parse must never exhaust the stack. */
export const MAX_DEPTH = 512;
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
