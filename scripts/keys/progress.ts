/** How often a terminal's bar is redrawn, and how often a plain line is written elsewhere (ms). */
const BAR_EVERY_MS = 100;
const LINE_EVERY_MS = 2_000;
const BAR_WIDTH = 30;

/**
 * Shows how far a run of `total` values has come: a bar redrawn in place on a terminal, a plain
 * line every two seconds anywhere else (a log, a pipe, CI), and a last line at the end either way.
 */
export function progressReporter(total: number, out: { isTTY?: boolean; write(text: string): unknown } = process.stdout) {
  const started = performance.now();
  let shownAt = -Infinity;
  const describe = (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    return { percent, text: `${done.toLocaleString('en')}/${total.toLocaleString('en')} values (${percent} %), ${rate.toLocaleString('en')}/s` };
  };
  const bar = (percent: number) => `[${'#'.repeat(Math.round((percent / 100) * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}]`;
  return {
    update(done: number) {
      const now = performance.now();
      if (now - shownAt < (out.isTTY ? BAR_EVERY_MS : LINE_EVERY_MS)) return;
      shownAt = now;
      const { percent, text } = describe(done);
      out.write(out.isTTY ? `\r${bar(percent)} ${text}\x1b[K` : `rewrapped ${text}\n`);
    },
    finish(done: number) {
      const { percent, text } = describe(done);
      out.write(out.isTTY ? `\r${bar(percent)} ${text}\x1b[K\n` : `rewrapped ${text}\n`);
    },
  };
}
