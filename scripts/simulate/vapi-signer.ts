import { createHmac, randomUUID } from 'node:crypto';
import type { VapiAuthConfig } from '#shared/config';
import { signedPayload } from '../../services/ingress/lib/request-verifier.ts';

/**
 * Signs a body the way a Vapi credential matching the server's configuration would: HMAC with its
 * plan (header, algorithm, encoding, prefix, timestamp, payload format, message id), a bearer
 * token, or the legacy `x-vapi-secret`. The signed bytes are built by the verifier's own function.
 */
export function vapiSigner(vapi: VapiAuthConfig, url: string) {
  const secret = vapi.secrets[0]!;
  return (body: string): Record<string, string> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (vapi.auth === 'bearer') return { ...headers, authorization: `Bearer ${secret}` };
    if (vapi.auth === 'secret') return { ...headers, 'x-vapi-secret': secret };
    const timestamp = String(Date.now());
    const messageId = `msg_${randomUUID()}`;
    if (vapi.timestampHeader) headers[vapi.timestampHeader] = timestamp;
    if (vapi.messageIdHeader) headers[vapi.messageIdHeader] = messageId;
    const payload = signedPayload(vapi.payloadFormat, { timestamp, method: 'POST', url: vapi.webhookUrl || url, 'svix-id': messageId }, Buffer.from(body));
    const key = Buffer.from(secret, vapi.secretIsBase64 ? 'base64' : 'utf8');
    headers[vapi.signatureHeader] = `${vapi.signaturePrefix}${createHmac(vapi.algorithm, key).update(payload).digest(vapi.encoding)}`;
    return headers;
  };
}
