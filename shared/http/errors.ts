import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** An error whose code and message are meant for the client: `{ success: false, code, message }`. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Fastify's own error codes that deserve a contract code rather than a generic one. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
};

/**
 * One error shape for every service. Client errors keep their message; server errors are logged
 * in full and answered with a generic message, so no internal detail (or health data) leaks out.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
      const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (error instanceof HttpError) {
        return reply.code(statusCode).headers(error.headers).send({ success: false, code: error.code, message: error.message });
      }
      if (statusCode >= 500) {
        request.log.error({ err: error }, 'request failed');
        return reply.code(statusCode).send({ success: false, code: 'INTERNAL', message: 'Internal error' });
      }
      const code = FASTIFY_CODES[error.code] ?? (statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST');
      return reply.code(statusCode).send({ success: false, code, message: error.message });
    });
    app.setNotFoundHandler((request, reply) =>
      reply.code(404).send({ success: false, code: 'NOT_FOUND', message: `No route for ${request.method} ${request.url}` }),
    );
  },
  { name: 'error-handler' },
);
