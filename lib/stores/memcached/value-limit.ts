/**
 * Values memcached does not take: larger than `maxValueBytes` (not sent), or refused by the
 * server as larger than its item size limit (-I, which may be below maxValueBytes). Either is a
 * value not cached, not a store failure: it must not count towards an outage. Warned once.
 */
export class ValueLimit {
  private warned = false;

  constructor(
    private readonly maxBytes: number,
    private readonly warn: (message: string) => void,
  ) {}

  /** Larger than maxValueBytes: not to be sent. */
  exceeds(key: string, value: Uint8Array): boolean {
    if (value.byteLength <= this.maxBytes) return false;
    this.tell(key, value, `maxValueBytes (${this.maxBytes})`);
    return true;
  }

  /** Whether a SET's error is the server's "Value too large" (memjs' message for status 3). */
  refused(error: unknown, key: string, value: Uint8Array): boolean {
    if (!(error instanceof Error && error.message.includes('Value too large'))) return false;
    this.tell(key, value, "the server's item size limit (its -I)");
    return true;
  }

  private tell(key: string, value: Uint8Array, limit: string): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(
      `memcached: value of ${value.byteLength} bytes for ${key} exceeds ${limit}; it is returned but not cached ` +
        `(further ones are skipped silently). Raise memcached's -I and maxValueBytes (at most -I) to cache it.`,
    );
  }
}
