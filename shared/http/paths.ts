/** Where Vapi POSTs its server messages (the ingress serves it; scripts and the Vapi tool export point at it). */
export const WEBHOOK_PATH = '/api/v1/sessions/vapi/webhook';
