import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { VapiAuthConfig } from '#shared/config';
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
  const parts = format.split('{body}').map((piece) =>
    Buffer.from(piece.replace(/\{(timestamp|method|url|svix-id)\}/g, (_, name: string) => values[name] ?? '')),
  );
  return Buffer.concat(parts.flatMap((part, index) => (index === 0 ? [part] : [rawBody, part])));
}

/**
 * Authenticates webhook requests in every way a Vapi credential can: HMAC with any of its plan
 * options, bearer token, or the legacy `x-vapi-secret` header. Every configured secret is tried,
 * so a secret rotates by listing the new one beside the old one.
 */
export function createRequestVerifier(settings: Settings, clock: () => number = Date.now) {
  const fail = (reason: string): Verification => ({ ok: false, reason });
  // Vapi's `secretIsBase64` plan option: the key is the decoded bytes, not the text.
  const hmacKeys = settings.secrets.map((secret) => Buffer.from(secret, settings.secretIsBase64 ? 'base64' : 'utf8'));

  function verifyHmac(request: RequestToVerify): Verification {
    const given = header(request.headers, settings.signatureHeader);
    if (!given) return fail(`missing ${settings.signatureHeader} header`);
    const trimmed = given.trim();
    // A configured prefix is required. Without one, the common `sha256=` style is still read.
    const prefix = settings.signaturePrefix || (trimmed.startsWith(`${settings.algorithm}=`) ? `${settings.algorithm}=` : '');
    if (!trimmed.startsWith(prefix)) return fail(`signature lacks the ${prefix} prefix`);
    const signature = trimmed.slice(prefix.length);
    // Buffer.from stops at the first bad character; a signature with junk appended must not pass.
    if (!SIGNATURE_SHAPE[settings.encoding].test(signature)) return fail(`signature is not ${settings.encoding}`);
    const givenBytes = Buffer.from(signature, settings.encoding);

    let timestamp = '';
    if (settings.timestampHeader) {
      timestamp = header(request.headers, settings.timestampHeader) ?? '';
      if (!timestamp) return fail(`missing ${settings.timestampHeader} header`);
      // Seconds or milliseconds: Vapi does not document which it sends.
      const signedAt = parseTimestamp(timestamp);
      if (!signedAt) return fail('unreadable timestamp');
      if (Math.abs(clock() - signedAt.getTime()) > settings.timestampToleranceS * 1000) {
        return fail('timestamp outside tolerance');
      }
    }
    const payload = signedPayload(
      settings.payloadFormat,
      {
        timestamp,
        method: request.method.toUpperCase(),
        url: settings.webhookUrl,
        'svix-id': settings.messageIdHeader ? (header(request.headers, settings.messageIdHeader) ?? '') : '',
      },
      request.rawBody,
    );
    const matches = hmacKeys.some((key) => {
      const expected = createHmac(settings.algorithm, key).update(payload).digest();
      return expected.length === givenBytes.length && timingSafeEqual(expected, givenBytes);
    });
    return matches ? { ok: true } : fail('signature mismatch');
  }

  function verifyToken(given: string | undefined, what: string): Verification {
    if (!given) return fail(`missing ${what}`);
    return settings.secrets.some((secret) => sameSecret(given, secret)) ? { ok: true } : fail(`wrong ${what}`);
  }

  return function verify(request: RequestToVerify): Verification {
    switch (settings.auth) {
      case 'hmac':
        return verifyHmac(request);
      case 'bearer': {
        const authorization = header(request.headers, 'authorization') ?? '';
        const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
        return verifyToken(match?.[1], 'bearer token');
      }
      case 'secret':
        return verifyToken(header(request.headers, 'x-vapi-secret'), 'x-vapi-secret header');
    }
  };
}

/**
 * Whether the delivery id header is covered by the signature. Only then may it serve as the dedup
 * key: an unsigned one could be changed to replay a captured request as a new event.
 */
export const signsDeliveryId = (settings: Pick<Settings, 'auth' | 'payloadFormat' | 'messageIdHeader'>) =>
  settings.auth === 'hmac' && settings.messageIdHeader !== '' && settings.payloadFormat.includes('{svix-id}');
