import { createHmac } from 'node:crypto';
import { TEST_WEBHOOK_SECRET } from './config.ts';

/** Signs a body as Vapi's HMAC credential does with our default settings (hex SHA-256 of the raw body). */
export function hmacHeaders(body: string | Buffer, secret = TEST_WEBHOOK_SECRET): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-vapi-signature': createHmac('sha256', secret).update(body).digest('hex'),
  };
}
