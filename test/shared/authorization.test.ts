import { describe, expect, it } from 'vitest';
import { bearerToken } from '#shared/http/authorization';

describe('bearerToken', () => {
  it('reads the credentials of a Bearer header, the scheme in any case, trimmed', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('BEARER   abc  ')).toBe('abc');
    expect(bearerToken('  Bearer abc')).toBe('abc');
  });

  it('gives nothing for no header, another scheme or empty credentials', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer   ', 'Basic YTpi', 'Bearerabc', 'abc', 'Token abc']) {
      expect(bearerToken(header), String(header)).toBeUndefined();
    }
  });
});
