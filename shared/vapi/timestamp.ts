/** Below this, a number is taken as seconds since the epoch; above, as milliseconds (year 5138 vs 1973). */
const SECONDS_CEILING = 1e11;

/** Times outside these years are not a call's (and some are beyond what Postgres stores). */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2200, 0, 1);

const epochMillis = (value: number) => (Math.abs(value) < SECONDS_CEILING ? value * 1000 : value);

/**
 * Reads a Vapi timestamp: epoch milliseconds (current payloads), epoch seconds, numeric strings or
 * ISO-8601 strings (2024 payloads). Anything else, or a time outside 2000–2200, is null.
 */
export function parseTimestamp(value: unknown): Date | null {
  let millis = Number.NaN;
  if (typeof value === 'number') millis = epochMillis(value);
  else if (typeof value === 'string' && value.trim() !== '') {
    const numeric = Number(value);
    millis = Number.isFinite(numeric) ? epochMillis(numeric) : Date.parse(value);
  }
  return millis >= EARLIEST && millis <= LATEST ? new Date(millis) : null;
}
