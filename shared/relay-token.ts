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

/** What a token is checked against: the relay's key and the longest validity it accepts. */
export interface TokenRules {
  secret: string;
  /** `RELAY_TOKEN_MAX_TTL_S`: an `exp` further ahead than this is refused. */
  maxTtlS: number;
}

/**
 * Clock skew allowed between the clinic's backend, which mints tokens, and the relay, for `nbf`,
 * `iat` and the longest `exp`: NTP keeps servers within milliseconds, and five seconds cover a
 * virtual machine whose clock drifted between syncs without opening a real window.
 */
export const CLOCK_SKEW_S = 5;

const HEADER = { alg: 'HS256', typ: 'JWT' } as const;

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const signature = (signingInput: string, secret: string) => createHmac('sha256', secret).update(signingInput).digest();

/** Mints an HS256 JWT: `sub` = patient id, `exp` (epoch seconds), `iat` = now, optional `sid` = one session. */
export function signRelayToken(grant: RelayGrant, secret: string, nowMs = Date.now()): string {
  const claims = { sub: grant.patientId, exp: grant.expiresAt, iat: Math.floor(nowMs / 1000), ...(grant.sessionId ? { sid: grant.sessionId } : {}) };
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

/** A numeric date claim (epoch seconds), or undefined when the token leaves it out. */
function dateClaim(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TokenError(`token ${name} must be a number of seconds`);
  return value;
}

/**
 * Verifies a relay token: HS256 only (the algorithm is fixed here, never taken from the token, so
 * `none` or a public-key algorithm cannot be smuggled in), signature compared in constant time,
 * `sub` a non-empty string, `exp` required, in the future and at most `maxTtlS` ahead, `nbf` (when
 * set) reached and `iat` (when set) not in the future, both within `CLOCK_SKEW_S`.
 */
export function verifyRelayToken(token: string, { secret, maxTtlS }: TokenRules, nowMs = Date.now()): RelayGrant {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw new TokenError('malformed token');
  const [header, payload, mac] = parts as [string, string, string];
  if (decodeJson(header).alg !== 'HS256') throw new TokenError('token algorithm must be HS256');
  const expected = signature(`${header}.${payload}`, secret);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('bad token signature');
  const claims = decodeJson(payload);
  const { sub, sid } = claims;
  if (typeof sub !== 'string' || sub.length === 0) throw new TokenError('token has no subject (sub)');
  const exp = dateClaim(claims, 'exp');
  if (exp === undefined) throw new TokenError('token has no expiry (exp)');
  const now = nowMs / 1000;
  if (exp <= now) throw new TokenError('token expired');
  if (exp > now + maxTtlS + CLOCK_SKEW_S) throw new TokenError(`token expires too far ahead (at most ${maxTtlS} s)`);
  if ((dateClaim(claims, 'nbf') ?? 0) > now + CLOCK_SKEW_S) throw new TokenError('token not valid yet (nbf)');
  if ((dateClaim(claims, 'iat') ?? 0) > now + CLOCK_SKEW_S) throw new TokenError('token issued in the future (iat)');
  if (sid !== undefined && (typeof sid !== 'string' || sid.length === 0)) throw new TokenError('token sid must be a session id');
  return { patientId: sub, expiresAt: exp, ...(sid ? { sessionId: sid } : {}) };
}
