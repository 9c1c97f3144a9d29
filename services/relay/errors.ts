import { HttpError } from '#shared/http/errors';

/** How long a patient at its socket limit is asked to wait: long enough for a stale socket's ping to drop it. */
const SOCKETS_RETRY_AFTER_S = 30;

/** The relay's client errors, one constructor per contract code, answered before any WebSocket exists. */
export const RelayErrors = {
  notFound: (endpoint: string) => new HttpError(404, 'NOT_FOUND', `WebSocket endpoint is ${endpoint}`),
  shuttingDown: () => new HttpError(503, 'SHUTTING_DOWN', 'the relay is shutting down; reconnect'),
  unauthorized: (reason: string) => new HttpError(401, 'UNAUTHORIZED', reason),
  tooManySockets: (max: number) =>
    new HttpError(429, 'RATE_LIMITED', `at most ${max} connections per patient; close one, or retry later`, { 'retry-after': String(SOCKETS_RETRY_AFTER_S) }),
};
