import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { VapiAuthConfig } from '#shared/config';
import { bearerToken } from '#shared/http/authorization';
import { parseTimestamp } from '#shared/vapi/timestamp';

export interface RequestToVerify {
  method: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received: signatures are over bytes, never re-serialised JSON. */
  rawBody: Buffer;
}

export type Verification = { ok: true } | { ok: false; reason: string };

type Settings = Pick<
  VapiAuthConfig,
  | 'secrets'
  | 'auth'
  | 'signatureHeader'
  | 'algorithm'
  | 'encoding'
  | 'signaturePrefix'
  | 'timestampHeader'
  | 'payloadFormat'
  | 'messageIdHeader'
  | 'timestampToleranceS'
  | 'secretIsBase64'
  | 'webhookUrl'
>;

const SIGNATURE_SHAPE = {
  hex: /^(?:[0-9a-fA-F]{2})+$/,
  base64: /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+$/,
};

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Compares secrets in constant time; hashing first gives equal lengths whatever was sent. */
const sameSecret = (given: string, expected: string) =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

/**
 * Builds the bytes Vapi signed from its `payloadFormat`. The body is spliced in as raw bytes, so
 * non-ASCII content and odd spacing survive exactly.
 */
export function signedPayload(format: string, values: Record<string, string>, rawBody: Buffer): Buffer {
  const parts = format
    .split('{body}')
    .map((piece) => Buffer.from(piece.replace(/\{(timestamp|method|url|svix-id)\}/g, (_, name: string) => values[name] ?? '')));
  return Buffer.concat(parts.flatMap((part, index) => (index === 0 ? [part] : [rawBody, part])));
}

/**
 * Authenticates webhook requests in every way a Vapi credential can: HMAC with any of its plan
 * options, bearer token, or the legacy `x-vapi-secret` header. Every configured secret is tried,
 * so a secret rotates by listing the new one beside the old one.
 */
export function createRequestVerifier(settings: Settings, clock: () => number = Date.now) {
  const fail = (reason: string) => ({ ok: false as const, reason });
  // Vapi's `secretIsBase64` plan option: the key is the decoded bytes, not the text.
  const hmacKeys = settings.secrets.map((secret) => Buffer.from(secret, settings.secretIsBase64 ? 'base64' : 'utf8'));

  /** Every HMAC check that needs no body: the signature header's presence and shape, the timestamp. */
  function checkHmacHeaders(headers: IncomingHttpHeaders): { ok: true; signature: Buffer; timestamp: string } | { ok: false; reason: string } {
    const given = header(headers, settings.signatureHeader);
    if (!given) return fail(`missing ${settings.signatureHeader} header`);
    const trimmed = given.trim();
    // A configured prefix is required. Without one, the common `sha256=` style is still read.
    const prefix = settings.signaturePrefix || (trimmed.startsWith(`${settings.algorithm}=`) ? `${settings.algorithm}=` : '');
    if (!trimmed.startsWith(prefix)) return fail(`signature lacks the ${prefix} prefix`);
    const signature = trimmed.slice(prefix.length);
    // Buffer.from stops at the first bad character; a signature with junk appended must not pass.
    if (!SIGNATURE_SHAPE[settings.encoding].test(signature)) return fail(`signature is not ${settings.encoding}`);

    let timestamp = '';
    if (settings.timestampHeader) {
      timestamp = header(headers, settings.timestampHeader) ?? '';
      if (!timestamp) return fail(`missing ${settings.timestampHeader} header`);
      // Seconds or milliseconds: Vapi does not document which it sends.
      const signedAt = parseTimestamp(timestamp);
      if (!signedAt) return fail('unreadable timestamp');
      if (Math.abs(clock() - signedAt.getTime()) > settings.timestampToleranceS * 1000) {
        return fail('timestamp outside tolerance');
      }
    }
    return { ok: true, signature: Buffer.from(signature, settings.encoding), timestamp };
  }

  function verifyHmac(request: RequestToVerify): Verification {
    const checked = checkHmacHeaders(request.headers);
    if (!checked.ok) return checked;
    const payload = signedPayload(
      settings.payloadFormat,
      {
        timestamp: checked.timestamp,
        method: request.method.toUpperCase(),
        url: settings.webhookUrl,
        'svix-id': settings.messageIdHeader ? (header(request.headers, settings.messageIdHeader) ?? '') : '',
      },
      request.rawBody,
    );
    const matches = hmacKeys.some((key) => {
      const expected = createHmac(settings.algorithm, key).update(payload).digest();
      return expected.length === checked.signature.length && timingSafeEqual(expected, checked.signature);
    });
    return matches ? { ok: true } : fail('signature mismatch');
  }

  function verifyToken(given: string | undefined, what: string): Verification {
    if (!given) return fail(`missing ${what}`);
    return settings.secrets.some((secret) => sameSecret(given, secret)) ? { ok: true } : fail(`wrong ${what}`);
  }

  /** A bearer or `x-vapi-secret` credential is all in the headers. */
  function verifyTokenHeaders(headers: IncomingHttpHeaders): Verification {
    if (settings.auth === 'bearer') {
      return verifyToken(bearerToken(header(headers, 'authorization')), 'bearer token');
    }
    return verifyToken(header(headers, 'x-vapi-secret'), 'x-vapi-secret header');
  }

  const verify = (request: RequestToVerify): Verification => (settings.auth === 'hmac' ? verifyHmac(request) : verifyTokenHeaders(request.headers));

  /**
   * What can be refused before the body is read: a token credential entirely, an HMAC's missing or
   * malformed signature and stale timestamp. A request failing here is never buffered.
   */
  const checkHeaders = (headers: IncomingHttpHeaders): Verification => {
    if (settings.auth !== 'hmac') return verifyTokenHeaders(headers);
    const checked = checkHmacHeaders(headers);
    return checked.ok ? { ok: true } : checked;
  };

  return Object.assign(verify, { checkHeaders });
}

/**
 * Whether the delivery id header is covered by the signature. Only then may it serve as the dedup
 * key: an unsigned one could be changed to replay a captured request as a new event.
 */
export const signsDeliveryId = (settings: Pick<Settings, 'auth' | 'payloadFormat' | 'messageIdHeader'>) =>
  settings.auth === 'hmac' && settings.messageIdHeader !== '' && settings.payloadFormat.includes('{svix-id}');
