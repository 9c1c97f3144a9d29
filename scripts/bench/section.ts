/**
 * One part of `npm run bench`. Each section measures something and a reference in the same run on
 * the same machine (so ratios compare across machines), and reports rows plus raw figures for the
 * JSON file the bench writes.
 */
export interface BenchRow {
  what: string;
  figure: string;
  reference: string;
  ratio: string;
  /** The target, e.g. "p99 ≤ 25 ms" or "≥ 0.5×", and whether it was met. */
  target?: string;
  met?: boolean;
}

export interface BenchSection {
  title: string;
  rows: BenchRow[];
  /** Raw numbers for bench-results.json. */
  figures: Record<string, unknown>;
}

export type BenchRun = () => Promise<BenchSection>;
