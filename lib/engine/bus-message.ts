/** The bus's messages on the wire (bus.ts): JSON, from any client that can PUBLISH on the channel. */

export interface Message {
  t: 'inv' | 'drop' | 'ping' | 'ack';
  from: string;
  /** An invalidation's or drop's number in its sender's sequence; a ping's: the count so far (absent from older versions). */
  n?: number;
  id?: string;
  deps?: readonly string[];
  keys?: readonly string[];
  prefix?: string;
}

const strings = (list: unknown): boolean =>
  list === undefined || (Array.isArray(list) && list.every((item) => typeof item === 'string'));

export function wellFormed(message: unknown): message is Message {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as Record<string, unknown>;
  return (
    typeof m.from === 'string' &&
    (m.n === undefined || (Number.isSafeInteger(m.n) && (m.n as number) >= 0)) &&
    (m.id === undefined || typeof m.id === 'string') &&
    (m.prefix === undefined || typeof m.prefix === 'string') &&
    strings(m.keys) &&
    strings(m.deps)
  );
}
