import { expect } from 'vitest';

/**
 * Fails when any of `secrets` (names, a phone number, transcript words) appears anywhere in `rows`:
 * every text and JSON column, however nested, as the row would be read back.
 */
export function expectNoPlaintext(rows: readonly unknown[], secrets: readonly string[]): void {
  const text = JSON.stringify(rows).toLowerCase();
  for (const secret of secrets) expect(text, `a row holds "${secret}" in clear`).not.toContain(secret.toLowerCase());
}
