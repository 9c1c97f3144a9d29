import { HttpError } from '#shared/http/errors';

/** How long a patient at its socket limit is asked to wait: long enough for a stale socket's ping to drop it. */
const SOCKETS_RETRY_AFTER_S = 30;

/** The relay's client errors, one constructor per contract code: before any WebSocket exists, and from the history API. */
export const RelayErrors = {
  notFound: (endpoint: string) => new HttpError(404, 'NOT_FOUND', `WebSocket endpoint is ${endpoint}`),
  shuttingDown: () => new HttpError(503, 'SHUTTING_DOWN', 'the relay is shutting down; reconnect'),
  unauthorized: (reason: string) => new HttpError(401, 'UNAUTHORIZED', reason),
  invalidRequest: (reason: string) => new HttpError(400, 'INVALID_REQUEST', reason),
  /** One answer, word for word, for a session of someone else and one that does not exist. */
  noSession: () => new HttpError(404, 'NOT_FOUND', 'no such session'),
  tooManySockets: (max: number) =>
    new HttpError(429, 'RATE_LIMITED', `at most ${max} connections per patient; close one, or retry later`, { 'retry-after': String(SOCKETS_RETRY_AFTER_S) }),
};
