/**
 * A token bucket: holds at most `capacity` tokens and gains `perSecond` of them a second. `take`
 * asks for one; `spend` charges work already done, into debt if need be, which later asks wait off.
 * Reads `Date.now()`, so a test's fake clock drives it.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt = Date.now();

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
  ) {
    this.tokens = capacity;
  }

  /** Takes one token if there is one. */
  take(): boolean {
    if (this.refill() < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Charges `count` tokens, going into debt when there are fewer (a negative count gives some back). */
  spend(count: number): void {
    this.tokens = Math.min(this.capacity, this.refill() - count);
  }

  /** Milliseconds until a token is there (0 when one is). */
  waitMs(): number {
    const tokens = this.refill();
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / this.perSecond);
  }

  /** Back to capacity: a bucket in this state holds nothing worth remembering. */
  get full(): boolean {
    return this.refill() >= this.capacity;
  }

  private refill(): number {
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.updatedAt) * this.perSecond) / 1000);
    this.updatedAt = now;
    return this.tokens;
  }
}
