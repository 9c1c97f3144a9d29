import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createRequestVerifier, type RequestToVerify } from '../../services/ingress/lib/request-verifier.ts';
import { TEST_WEBHOOK_SECRET, testConfig } from '../helpers/config.ts';

/** A fixed "now" for every verifier, so timestamp windows are tested without waiting. */
const NOW_MS = Date.parse('2026-11-20T15:00:00.000Z');
const clock = () => NOW_MS;

const BODY = '{"message":{"type":"status-update","status":"in-progress","call":{"id":"call-1"}}}';

/** A verifier over settings parsed from environment overrides, exactly as the service gets them. */
const verifierFor = (env: Record<string, string> = {}) => createRequestVerifier(testConfig(env).vapi, clock);

const request = (headers: IncomingHttpHeaders, body: string | Buffer = BODY): RequestToVerify => ({
  method: 'POST',
  headers,
  rawBody: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
});

function hmac(payload: string | Buffer, { secret = TEST_WEBHOOK_SECRET, algorithm = 'sha256', encoding = 'hex' as 'hex' | 'base64' } = {}): string {
  return createHmac(algorithm, secret).update(payload).digest(encoding);
}

describe('HMAC with the default settings (hex SHA-256 of the raw body in x-vapi-signature)', () => {
  const verify = verifierFor();

  it('accepts a correct signature', () => {
    expect(verify(request({ 'x-vapi-signature': hmac(BODY) }))).toEqual({ ok: true });
  });

  it('rejects a signature made with another secret', () => {
    const result = verify(request({ 'x-vapi-signature': hmac(BODY, { secret: 'someone-else-entirely' }) }));
    expect(result.ok).toBe(false);
  });

  it('rejects a body with one byte changed after signing', () => {
    const signature = hmac(BODY);
    const tampered = Buffer.from(BODY, 'utf8');
    tampered[tampered.indexOf('in-progress')] = 'I'.charCodeAt(0);
    expect(verify(request({ 'x-vapi-signature': signature }, tampered)).ok).toBe(false);
  });

  it('rejects a request without the signature header, naming the header', () => {
    const result = verify(request({}));
    expect(result).toEqual({ ok: false, reason: expect.stringContaining('x-vapi-signature') });
  });

  it('rejects an empty signature', () => {
    expect(verify(request({ 'x-vapi-signature': '' })).ok).toBe(false);
  });

  it('rejects a correct signature with anything appended', () => {
    expect(verify(request({ 'x-vapi-signature': `${hmac(BODY)}zz` })).ok).toBe(false);
    expect(verify(request({ 'x-vapi-signature': `${hmac(BODY)}0` })).ok).toBe(false);
  });

  it('verifies the bytes on the wire, not re-serialised JSON', () => {
    const spaced = '{ "message": { "type": "status-update", "status": "ended" } }';
    const reserialised = JSON.stringify(JSON.parse(spaced));
    expect(reserialised).not.toBe(spaced);
    expect(verify(request({ 'x-vapi-signature': hmac(spaced) }, spaced)).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(spaced) }, reserialised)).ok).toBe(false);
  });

  it('accepts a non-ASCII body (é, emoji) signed over its UTF-8 bytes', () => {
    const body = Buffer.from('{"message":{"type":"transcript","transcript":"Café ☕ avec Zoë 🙂"}}', 'utf8');
    expect(verify(request({ 'x-vapi-signature': hmac(body) }, body)).ok).toBe(true);
  });
});

describe('HMAC options', () => {
  it('uses SHA-512 when VAPI_SIGNATURE_ALGORITHM=sha512', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_ALGORITHM: 'sha512' });
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { algorithm: 'sha512' }) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { algorithm: 'sha256' }) })).ok).toBe(false);
  });

  it('uses SHA-1 when VAPI_SIGNATURE_ALGORITHM=sha1', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_ALGORITHM: 'sha1' });
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { algorithm: 'sha1' }) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { algorithm: 'sha256' }) })).ok).toBe(false);
  });

  it('reads base64 signatures when VAPI_SIGNATURE_ENCODING=base64', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_ENCODING: 'base64' });
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { encoding: 'base64' }) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { encoding: 'hex' }) })).ok).toBe(false);
  });

  it('strips the configured prefix (GitHub style sha256=…)', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_PREFIX: 'sha256=' });
    expect(verify(request({ 'x-vapi-signature': `sha256=${hmac(BODY)}` })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': `sha256=${hmac('other body')}` })).ok).toBe(false);
  });

  it('reads a sha256= prefixed signature even when no prefix is configured', () => {
    const verify = verifierFor();
    expect(verify(request({ 'x-vapi-signature': `sha256=${hmac(BODY)}` })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': `sha512=${hmac(BODY)}` })).ok).toBe(false);
  });

  it('requires the configured prefix', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_PREFIX: 'sha256=' });
    expect(verify(request({ 'x-vapi-signature': hmac(BODY) }))).toEqual({ ok: false, reason: expect.stringContaining('prefix') });
  });

  it('uses the decoded secret when VAPI_SECRET_IS_BASE64=true', () => {
    const key = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0x01, 0xfe, 0x55]);
    const verify = verifierFor({ VAPI_WEBHOOK_SECRET: key.toString('base64'), VAPI_SECRET_IS_BASE64: 'true' });
    expect(verify(request({ 'x-vapi-signature': createHmac('sha256', key).update(BODY).digest('hex') })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { secret: key.toString('base64') }) })).ok).toBe(false);
  });

  it('reads the signature from a custom header, whatever case the setting uses', () => {
    const verify = verifierFor({ VAPI_SIGNATURE_HEADER: 'X-Signature' });
    expect(verify(request({ 'x-signature': hmac(BODY) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY) })).ok).toBe(false);
  });
});

describe('HMAC with a timestamp header (default payload {timestamp}.{body})', () => {
  const verify = verifierFor({ VAPI_TIMESTAMP_HEADER: 'x-timestamp' });
  const signedAt = (timestamp: string) => request({ 'x-timestamp': timestamp, 'x-vapi-signature': hmac(`${timestamp}.${BODY}`) });
  const seconds = (ms: number) => String(Math.floor(ms / 1000));

  it('accepts a timestamp in seconds', () => {
    expect(verify(signedAt(seconds(NOW_MS - 10_000)))).toEqual({ ok: true });
  });

  it('accepts a timestamp in milliseconds', () => {
    expect(verify(signedAt(String(NOW_MS - 10_000)))).toEqual({ ok: true });
  });

  it('accepts an ISO-8601 timestamp', () => {
    expect(verify(signedAt(new Date(NOW_MS - 10_000).toISOString()))).toEqual({ ok: true });
  });

  it('rejects a signature over the body alone', () => {
    const timestamp = seconds(NOW_MS);
    expect(verify(request({ 'x-timestamp': timestamp, 'x-vapi-signature': hmac(BODY) })).ok).toBe(false);
  });

  it('rejects a stale timestamp, beyond the 300 s tolerance in the past', () => {
    expect(verify(signedAt(seconds(NOW_MS - 301_000)))).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
    expect(verify(signedAt(String(NOW_MS - 301_000)))).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
  });

  it('rejects a timestamp beyond the tolerance in the future', () => {
    expect(verify(signedAt(seconds(NOW_MS + 301_000)))).toEqual({ ok: false, reason: 'timestamp outside tolerance' });
  });

  it('honours VAPI_TIMESTAMP_TOLERANCE_S', () => {
    const strict = verifierFor({ VAPI_TIMESTAMP_HEADER: 'x-timestamp', VAPI_TIMESTAMP_TOLERANCE_S: '30' });
    expect(strict(signedAt(seconds(NOW_MS - 20_000))).ok).toBe(true);
    expect(strict(signedAt(seconds(NOW_MS - 40_000))).ok).toBe(false);
  });

  it('rejects a request without the timestamp header', () => {
    expect(verify(request({ 'x-vapi-signature': hmac(`.${BODY}`) })).ok).toBe(false);
  });

  it('rejects an unreadable timestamp', () => {
    expect(verify(signedAt('yesterday-ish')).ok).toBe(false);
  });

  it('rejects a replayed signature with the timestamp header moved forward', () => {
    const original = seconds(NOW_MS - 200_000);
    const signature = hmac(`${original}.${BODY}`);
    expect(verify(request({ 'x-timestamp': seconds(NOW_MS), 'x-vapi-signature': signature })).ok).toBe(false);
  });
});

describe('HMAC with a custom payload format', () => {
  const url = 'https://clinic.example/api/v1/sessions/vapi/webhook';
  const verify = verifierFor({
    VAPI_TIMESTAMP_HEADER: 'x-timestamp',
    VAPI_MESSAGE_ID_HEADER: 'svix-id',
    VAPI_SIGNATURE_PAYLOAD: '{svix-id}.{method}.{url}.{timestamp}.{body}',
    VAPI_WEBHOOK_URL: url,
  });
  const timestamp = String(Math.floor(NOW_MS / 1000));

  it('fills {svix-id}, {method}, {url} and {timestamp}', () => {
    const signature = hmac(`msg_2abc.POST.${url}.${timestamp}.${BODY}`);
    const result = verify(request({ 'svix-id': 'msg_2abc', 'x-timestamp': timestamp, 'x-vapi-signature': signature }));
    expect(result).toEqual({ ok: true });
  });

  it('rejects the same signature when the message id differs', () => {
    const signature = hmac(`msg_2abc.POST.${url}.${timestamp}.${BODY}`);
    const result = verify(request({ 'svix-id': 'msg_other', 'x-timestamp': timestamp, 'x-vapi-signature': signature }));
    expect(result.ok).toBe(false);
  });

  it('rejects a signature made for another URL', () => {
    const signature = hmac(`msg_2abc.POST.https://elsewhere.example/hook.${timestamp}.${BODY}`);
    const result = verify(request({ 'svix-id': 'msg_2abc', 'x-timestamp': timestamp, 'x-vapi-signature': signature }));
    expect(result.ok).toBe(false);
  });
});

describe('secret rotation (VAPI_WEBHOOK_SECRET lists several)', () => {
  const rotation = { VAPI_WEBHOOK_SECRET: 'new-secret-1,old-secret-2' };

  it('accepts HMAC signatures made with either secret', () => {
    const verify = verifierFor(rotation);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { secret: 'new-secret-1' }) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { secret: 'old-secret-2' }) })).ok).toBe(true);
    expect(verify(request({ 'x-vapi-signature': hmac(BODY, { secret: 'retired-secret-0' }) })).ok).toBe(false);
  });

  it('accepts either bearer token', () => {
    const verify = verifierFor({ ...rotation, VAPI_AUTH: 'bearer' });
    expect(verify(request({ authorization: 'Bearer old-secret-2' })).ok).toBe(true);
    expect(verify(request({ authorization: 'Bearer new-secret-1,old-secret-2' })).ok).toBe(false);
  });
});

describe('bearer mode (Authorization: Bearer <secret>)', () => {
  const verify = verifierFor({ VAPI_AUTH: 'bearer' });

  it('accepts the right token', () => {
    expect(verify(request({ authorization: `Bearer ${TEST_WEBHOOK_SECRET}` }))).toEqual({ ok: true });
  });

  it('rejects a wrong token', () => {
    expect(verify(request({ authorization: 'Bearer not-the-secret' })).ok).toBe(false);
  });

  it('rejects a missing Authorization header', () => {
    expect(verify(request({})).ok).toBe(false);
  });

  it('rejects the secret sent without the Bearer scheme', () => {
    expect(verify(request({ authorization: TEST_WEBHOOK_SECRET })).ok).toBe(false);
  });

  it('does not accept an HMAC signature instead of the token', () => {
    expect(verify(request({ 'x-vapi-signature': hmac(BODY) })).ok).toBe(false);
  });
});

describe('secret mode (x-vapi-secret: <secret>)', () => {
  const verify = verifierFor({ VAPI_AUTH: 'secret' });

  it('accepts the right secret', () => {
    expect(verify(request({ 'x-vapi-secret': TEST_WEBHOOK_SECRET }))).toEqual({ ok: true });
  });

  it('rejects a wrong secret', () => {
    expect(verify(request({ 'x-vapi-secret': `${TEST_WEBHOOK_SECRET}x` })).ok).toBe(false);
  });

  it('rejects an empty or missing header', () => {
    expect(verify(request({ 'x-vapi-secret': '' })).ok).toBe(false);
    expect(verify(request({})).ok).toBe(false);
  });
});
