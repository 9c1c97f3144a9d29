import { describe, expect, it } from 'vitest';
import { CLOCK_SKEW_S, signRelayToken, TokenError, verifyRelayToken } from '#shared/relay-token';
import { craftToken } from './relay-harness.ts';

const SECRET = 'relay-token-test-secret-3c9a';
const MAX_TTL_S = 86_400;
const RULES = { secret: SECRET, maxTtlS: MAX_TTL_S };
const now = Date.parse('2026-11-24T12:00:00Z');
const exp = now / 1000 + 60;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const craft = (header: unknown, claims: unknown) => craftToken(claims, SECRET, header);

describe('relay tokens', () => {
  it('round-trips a patient, an expiry and an optional session', () => {
    expect(verifyRelayToken(signRelayToken({ patientId: 'pat-1', expiresAt: exp }, SECRET, now), RULES, now)).toEqual({ patientId: 'pat-1', expiresAt: exp });
    expect(verifyRelayToken(signRelayToken({ patientId: 'pat-1', expiresAt: exp, sessionId: 'call-9' }, SECRET, now), RULES, now)).toEqual({
      patientId: 'pat-1',
      expiresAt: exp,
      sessionId: 'call-9',
    });
  });

  it('accepts a token minted elsewhere by any HS256 JWT library (standard claims, typ optional)', () => {
    expect(verifyRelayToken(craft({ alg: 'HS256' }, { sub: 'pat-2', exp, iat: exp - 100, sid: 's' }), RULES, now)).toMatchObject({
      patientId: 'pat-2',
      sessionId: 's',
    });
  });

  const refused: [string, string][] = [
    ['expired', signRelayToken({ patientId: 'pat-1', expiresAt: now / 1000 - 1 }, SECRET, now)],
    ['signed with another key', signRelayToken({ patientId: 'pat-1', expiresAt: exp }, 'another-secret-entirely')],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'pat-1', exp })}.`],
    ['alg HS512 with a valid HS256 mac', craft({ alg: 'HS512' }, { sub: 'pat-1', exp })],
    [
      'forged claims',
      (() => {
        const [header, , mac] = signRelayToken({ patientId: 'pat-1', expiresAt: exp }, SECRET, now).split('.');
        return `${header}.${b64({ sub: 'pat-other', exp })}.${mac}`;
      })(),
    ],
    ['no exp', craft({ alg: 'HS256' }, { sub: 'pat-1' })],
    ['string exp', craft({ alg: 'HS256' }, { sub: 'pat-1', exp: String(exp) })],
    ['no sub', craft({ alg: 'HS256' }, { exp })],
    ['empty sid', craft({ alg: 'HS256' }, { sub: 'pat-1', exp, sid: '' })],
    ['two parts', 'abc.def'],
    ['not JSON', `${Buffer.from('{"alg"').toString('base64url')}.${b64({})}.x`],
    ['array claims', craft({ alg: 'HS256' }, [1, 2])],
  ];
  it.each(refused)('refuses a token: %s', (_name, token) => {
    expect(() => verifyRelayToken(token, RULES, now)).toThrow(TokenError);
  });

  const nowS = now / 1000;
  const outOfBounds: [string, Record<string, unknown>, string][] = [
    ['exp a second past the longest validity and the skew', { exp: nowS + MAX_TTL_S + CLOCK_SKEW_S + 1 }, 'token expires too far ahead'],
    ['exp 1e300', { exp: 1e300 }, 'token expires too far ahead'],
    ['exp in milliseconds', { exp: now + 60_000 }, 'token expires too far ahead'],
    ['exp Infinity (as JSON: null)', { exp: null }, 'token exp must be a number'],
    ['nbf ahead of the skew', { exp, nbf: nowS + CLOCK_SKEW_S + 1 }, 'token not valid yet'],
    ['nbf as a string', { exp, nbf: String(nowS) }, 'token nbf must be a number'],
    ['iat ahead of the skew', { exp, iat: nowS + CLOCK_SKEW_S + 1 }, 'token issued in the future'],
    ['iat in milliseconds', { exp, iat: now }, 'token issued in the future'],
  ];
  it.each(outOfBounds)('refuses a token whose dates are out of bounds, saying why: %s', (_name, dates, reason) => {
    expect(() => verifyRelayToken(craft({ alg: 'HS256' }, { sub: 'pat-1', ...dates }), RULES, now)).toThrow(reason);
  });

  it('accepts the longest validity, a reached nbf and an iat within the clock skew', () => {
    const claims = { sub: 'pat-1', exp: nowS + MAX_TTL_S + CLOCK_SKEW_S, nbf: nowS + CLOCK_SKEW_S, iat: nowS + CLOCK_SKEW_S };
    expect(verifyRelayToken(craft({ alg: 'HS256' }, claims), RULES, now)).toMatchObject({ patientId: 'pat-1', expiresAt: claims.exp });
  });
});
