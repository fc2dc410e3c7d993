// Connection and message-rate limits per client address. In memory, per process: they protect this
// process from a flood; they are not a billing quota.

export class ConnectionLimiter {
  private readonly open = new Map<string, number>();
  constructor(private readonly perIp: number) {}

  /** Reserve a slot for `ip`; false when it already holds its share. */
  acquire(ip: string): boolean {
    const n = this.open.get(ip) ?? 0;
    if (n >= this.perIp) return false;
    this.open.set(ip, n + 1);
    return true;
  }

  release(ip: string): void {
    const n = (this.open.get(ip) ?? 0) - 1;
    if (n <= 0) this.open.delete(ip);
    else this.open.set(ip, n);
  }
}

/** Token bucket: `perMinute` messages, refilled continuously, bursts up to a minute's worth. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  take(key: string): boolean {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + ((t - b.at) / 60_000) * this.perMinute);
    b.at = t;
    if (b.tokens < 1) {
      this.buckets.set(key, b);
      return false;
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    // Bound memory under address-spraying: forget full buckets once the map grows large.
    if (this.buckets.size > 10_000) {
      for (const [k, v] of this.buckets) if (v.tokens >= this.perMinute - 1) this.buckets.delete(k);
    }
    return true;
  }
}
