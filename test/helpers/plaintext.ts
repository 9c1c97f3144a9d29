import { expect } from 'vitest';

/**
 * Fails when any of `secrets` (names, a phone number, transcript words) appears anywhere in `rows`:
 * every text and JSON column, however nested, as the row would be read back. The failure shows
 * where, not the whole of it.
 */
export function expectNoPlaintext(rows: readonly unknown[], secrets: readonly string[]): void {
  const text = JSON.stringify(rows).toLowerCase();
  for (const secret of secrets) {
    const at = text.indexOf(secret.toLowerCase());
    expect(at < 0 ? null : text.slice(Math.max(0, at - 200), at + secret.length + 40), `a row holds "${secret}" in clear`).toBeNull();
  }
}
