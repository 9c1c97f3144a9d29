import { createHmac } from 'node:crypto';

/** The headers that sign one delivery, per Standard Webhooks (https://www.standardwebhooks.com). */
export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Signs `body` as `v1,<base64 HMAC-SHA256("<id>.<timestamp>.<body>")>` with the bytes of a
 * `whsec_…` key, so any Standard Webhooks library verifies it.
 */
export function signDelivery(secret: string, id: string, body: string, now = new Date()): SignedHeaders {
  const timestamp = Math.floor(now.getTime() / 1000).toString();
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
