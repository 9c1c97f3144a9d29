import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a relay token grants: one patient's events, optionally of one session only. */
export interface RelayGrant {
  patientId: string;
  /** `sid`: when set, every other session is forbidden. */
  sessionId?: string;
  /** Epoch seconds after which the token is refused. */
  expiresAt: number;
}

/** Why a token was refused; the message is safe to send back (it says nothing about the secret). */
export class TokenError extends Error {}

const HEADER = { alg: 'HS256', typ: 'JWT' } as const;

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const signature = (signingInput: string, secret: string) => createHmac('sha256', secret).update(signingInput).digest();

/** Mints an HS256 JWT: `sub` = patient id, `exp` (epoch seconds), optional `sid` = one session. */
export function signRelayToken(grant: RelayGrant, secret: string): string {
  const claims = { sub: grant.patientId, exp: grant.expiresAt, iat: Math.floor(Date.now() / 1000), ...(grant.sessionId ? { sid: grant.sessionId } : {}) };
  const signingInput = `${encode(HEADER)}.${encode(claims)}`;
  return `${signingInput}.${signature(signingInput, secret).toString('base64url')}`;
}

const decodeJson = (part: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new TokenError('malformed token');
};

/**
 * Verifies a relay token: HS256 only (the algorithm is fixed here, never taken from the token, so
 * `none` or a public-key algorithm cannot be smuggled in), signature compared in constant time,
 * `exp` required and in the future, `sub` a non-empty string.
 */
export function verifyRelayToken(token: string, secret: string, nowMs = Date.now()): RelayGrant {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw new TokenError('malformed token');
  const [header, payload, mac] = parts as [string, string, string];
  if (decodeJson(header).alg !== 'HS256') throw new TokenError('token algorithm must be HS256');
  const expected = signature(`${header}.${payload}`, secret);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('bad token signature');
  const claims = decodeJson(payload);
  const { sub, exp, sid } = claims;
  if (typeof sub !== 'string' || sub.length === 0) throw new TokenError('token has no subject (sub)');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenError('token has no expiry (exp)');
  if (exp * 1000 <= nowMs) throw new TokenError('token expired');
  if (sid !== undefined && (typeof sid !== 'string' || sid.length === 0)) throw new TokenError('token sid must be a session id');
  return { patientId: sub, expiresAt: exp, ...(sid ? { sessionId: sid } : {}) };
}
