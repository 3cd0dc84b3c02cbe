export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 3. */
  failureThreshold?: number;
  /** First pause before probing again, ms; doubles while probes fail. Default 1,000. */
  cooldownMs?: number;
  /** Longest pause between probes, ms. Default 5,000. */
  maxCooldownMs?: number;
  now?: () => number;
  onOpen?: (error: unknown, failures: number) => void;
  onClose?: (skipped: number, downForMs: number) => void;
}

/**
 * Stops calling a failing store: after `failureThreshold` consecutive failures every call is a
 * miss without touching the store, and one probe is let through per cooldown. So an outage
 * costs callers nothing after the first few failures, and is reported once, not per call.
 */
export class CircuitBreaker {
  private _state: CircuitState = 'closed';
  private failures = 0;
  private skipped = 0;
  private openedAt = 0;
  private retryAt = 0;
  private cooldown: number;
  private readonly threshold: number;
  private readonly baseCooldown: number;
  private readonly maxCooldown: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions = {}) {
    this.threshold = options.failureThreshold ?? 3;
    this.baseCooldown = this.cooldown = options.cooldownMs ?? 1_000;
    this.maxCooldown = options.maxCooldownMs ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this._state;
  }

  /** May the caller use the store now? In half-open state only one probe at a time is allowed. */
  allow(): boolean {
    if (this._state === 'closed') return true;
    if (this._state === 'open' && this.now() >= this.retryAt) {
      this._state = 'half-open';
      return true;
    }
    this.skipped++;
    return false;
  }

  /** An open circuit lets the next call through at once (shutdown's last try of what failed). */
  probeNow(): void {
    if (this._state === 'open') this.retryAt = 0;
  }

  success(): void {
    if (this._state === 'closed') {
      this.failures = 0;
      return;
    }
    const downFor = this.now() - this.openedAt;
    const skipped = this.skipped;
    this._state = 'closed';
    this.failures = 0;
    this.skipped = 0;
    this.cooldown = this.baseCooldown;
    this.options.onClose?.(skipped, downFor);
  }

  failure(error: unknown): void {
    if (this._state === 'half-open') {
      this.cooldown = Math.min(this.cooldown * 2, this.maxCooldown);
      this._state = 'open';
      this.retryAt = this.now() + this.cooldown;
      return;
    }
    if (this._state === 'open') return;
    this.failures++;
    if (this.failures >= this.threshold) {
      this._state = 'open';
      this.openedAt = this.now();
      this.retryAt = this.openedAt + this.cooldown;
      this.options.onOpen?.(error, this.failures);
    }
  }
}
