/** setTimeout's longest delay (2^31-1 ms, 24.8 days); a longer one fires at once instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fire` once the clock reaches `atMs` (epoch ms), however far ahead that is: a wait past
 * setTimeout's limit is taken in steps, each reading the clock again. Returns what cancels it.
 */
export function timerAt(atMs: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = atMs - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fire, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}
