// The domains the gateway relays outbound mail for: the practices' own (practice_domains), re-read
// while it runs so a practice added (`attune practice add`) or given another domain (`attune
// practice set-domains`) is relayed without a restart, and one whose domain was removed stops being.
// No query per message: the set is re-read in the background every `ttlMs`, and at once (at most
// every `minGapMs`) when a sender names a domain it does not hold, so a new practice's first
// message is not refused.

export type DomainCheck = 'known' | 'unknown' | 'unavailable';

export class SenderDomains {
  private known = new Set<string>();
  private readAt = 0;
  private missedAt = 0;
  private failed = false;
  private reading: Promise<void> | null = null;

  constructor(
    private readonly read: () => Promise<string[]>,
    private readonly onError: (err: unknown) => void,
    private readonly ttlMs: number,
    private readonly minGapMs: number,
  ) {}

  /**
   * Whether `domain` (lower-case) is a practice's. 'unavailable' when it is not known and the
   * practices could not be read: the caller answers 4xx, so a database hiccup bounces nothing.
   */
  async check(domain: string): Promise<DomainCheck> {
    const now = Date.now();
    if (this.known.has(domain)) {
      if (now - this.readAt > this.ttlMs) void this.refresh();
      return 'known';
    }
    if (now - this.readAt > this.ttlMs || now - this.missedAt > this.minGapMs) {
      this.missedAt = now;
      await this.refresh();
    }
    if (this.known.has(domain)) return 'known';
    return this.failed ? 'unavailable' : 'unknown';
  }

  private refresh(): Promise<void> {
    return (this.reading ??= this.read()
      .then(
        (ds) => {
          // Replaced, not merged: a domain a practice gave up is no longer relayed for.
          this.known = new Set(ds.map((d) => d.toLowerCase()));
          this.failed = false;
        },
        (err: unknown) => {
          this.failed = true;
          this.onError(err);
        },
      )
      .finally(() => {
        this.readAt = Date.now();
        this.reading = null;
      }));
  }
}
