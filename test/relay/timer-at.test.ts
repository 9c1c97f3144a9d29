import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { timerAt } from '../../services/relay/lib/timer-at.ts';

const DAY_MS = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => vi.useRealTimers());

describe('timerAt', () => {
  it('fires at its time even past setTimeout’s 24.8-day limit, not before', () => {
    const fired = vi.fn();
    const at = Date.now() + 30 * DAY_MS;
    timerAt(at, fired);
    vi.advanceTimersByTime(30 * DAY_MS - 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(Date.now()).toBe(at);
  });

  it('fires at once for a time already past, and never once cancelled', () => {
    const past = vi.fn();
    timerAt(Date.now() - 1_000, past);
    vi.advanceTimersByTime(0);
    expect(past).toHaveBeenCalledTimes(1);

    const cancelled = vi.fn();
    const cancel = timerAt(Date.now() + 40 * DAY_MS, cancelled);
    vi.advanceTimersByTime(25 * DAY_MS);
    cancel();
    vi.advanceTimersByTime(20 * DAY_MS);
    expect(cancelled).not.toHaveBeenCalled();
  });
});
