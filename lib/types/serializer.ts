/** Turns envelopes into the bytes a store keeps. Decoding must never execute code or set prototypes. */
export interface Serializer {
  readonly name: string;
  encode(value: unknown): Uint8Array;
  /** May throw on bytes it does not recognise: the memoizer treats that as a miss. */
  decode(bytes: Uint8Array): unknown;
  /**
   * Optional: decodes the bytes of `buffer` from `offset` on, without a sliced copy or view
   * (the value sits after the envelope header). Must agree with `decode`.
   */
  decodeFrom?(bytes: Uint8Array, offset: number): unknown;
  /**
   * Keeps the library's cached-error records as their class (the default codec does): without it,
   * `cacheErrors` stores errors in the memory store only.
   */
  readonly cachesErrors?: boolean;
}
