import { HttpError } from '#shared/http/errors';

/** The ingress's client errors, one constructor per contract code. */
export const IngressErrors = {
  invalidSignature: (reason: string) => new HttpError(401, 'INVALID_SIGNATURE', `Request not authenticated: ${reason}`),
  invalidPayload: (reason: string) => new HttpError(400, 'INVALID_PAYLOAD', reason),
  rateLimited: (retryAfterS: string) => new HttpError(429, 'RATE_LIMITED', 'Too many requests from this address; retry later', { 'retry-after': retryAfterS }),
  unavailable: () => new HttpError(503, 'UNAVAILABLE', 'The event could not be stored; retry later', { 'retry-after': '5' }),
};
