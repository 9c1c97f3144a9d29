import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../services/relay/lib/token-bucket.ts';

const start = Date.parse('2026-11-24T12:00:00Z');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(start);
});
afterEach(() => vi.useRealTimers());

const after = (ms: number) => vi.setSystemTime(start + ms);

describe('TokenBucket', () => {
  it('gives its burst at once, then one token per refill interval', () => {
    const bucket = new TokenBucket(3, 2);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.waitMs()).toBe(500);
    after(499);
    expect(bucket.take()).toBe(false);
    after(500);
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it('never holds more than its capacity, however long it rested', () => {
    const bucket = new TokenBucket(2, 1);
    after(3_600_000);
    expect(bucket.full).toBe(true);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
  });

  it('charges work already done into debt, which the wait then pays off', () => {
    const bucket = new TokenBucket(100, 100);
    bucket.spend(300);
    expect(bucket.waitMs()).toBe(2_010);
    after(2_009);
    expect(bucket.waitMs()).toBe(1);
    after(2_010);
    expect(bucket.waitMs()).toBe(0);
    expect(bucket.full).toBe(false);
    after(3_000);
    expect(bucket.full).toBe(true);
  });
});
