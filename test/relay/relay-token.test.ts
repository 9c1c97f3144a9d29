import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signRelayToken, TokenError, verifyRelayToken } from '../../services/relay/lib/relay-token.ts';

const SECRET = 'relay-token-test-secret-3c9a';
const now = Date.parse('2026-11-24T12:00:00Z');
const exp = now / 1000 + 60;
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const hs256 = (input: string, secret = SECRET) => createHmac('sha256', secret).update(input).digest('base64url');
const craft = (header: unknown, claims: unknown, secret = SECRET) => `${b64(header)}.${b64(claims)}.${hs256(`${b64(header)}.${b64(claims)}`, secret)}`;

describe('relay tokens', () => {
  it('round-trips a patient, an expiry and an optional session', () => {
    expect(verifyRelayToken(signRelayToken({ patientId: 'pat-1', expiresAt: exp }, SECRET), SECRET, now)).toEqual({ patientId: 'pat-1', expiresAt: exp });
    expect(verifyRelayToken(signRelayToken({ patientId: 'pat-1', expiresAt: exp, sessionId: 'call-9' }, SECRET), SECRET, now)).toEqual({
      patientId: 'pat-1',
      expiresAt: exp,
      sessionId: 'call-9',
    });
  });

  it('accepts a token minted elsewhere by any HS256 JWT library (standard claims, typ optional)', () => {
    expect(verifyRelayToken(craft({ alg: 'HS256' }, { sub: 'pat-2', exp, iat: exp - 100, sid: 's' }), SECRET, now)).toMatchObject({ patientId: 'pat-2', sessionId: 's' });
  });

  const refused: [string, string][] = [
    ['expired', signRelayToken({ patientId: 'pat-1', expiresAt: now / 1000 - 1 }, SECRET)],
    ['signed with another key', signRelayToken({ patientId: 'pat-1', expiresAt: exp }, 'another-secret-entirely')],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'pat-1', exp })}.`],
    ['alg HS512 with a valid HS256 mac', craft({ alg: 'HS512' }, { sub: 'pat-1', exp })],
    ['forged claims', (() => {
      const [header, , mac] = signRelayToken({ patientId: 'pat-1', expiresAt: exp }, SECRET).split('.');
      return `${header}.${b64({ sub: 'pat-other', exp })}.${mac}`;
    })()],
    ['no exp', craft({ alg: 'HS256' }, { sub: 'pat-1' })],
    ['string exp', craft({ alg: 'HS256' }, { sub: 'pat-1', exp: String(exp) })],
    ['no sub', craft({ alg: 'HS256' }, { exp })],
    ['empty sid', craft({ alg: 'HS256' }, { sub: 'pat-1', exp, sid: '' })],
    ['two parts', 'abc.def'],
    ['not JSON', `${Buffer.from('{"alg"').toString('base64url')}.${b64({})}.x`],
    ['array claims', craft({ alg: 'HS256' }, [1, 2])],
  ];
  it.each(refused)('refuses a token: %s', (_name, token) => {
    expect(() => verifyRelayToken(token, SECRET, now)).toThrow(TokenError);
  });
});
