import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

/** Answers with an `HttpError`: its status, headers and `{ success: false, code, message }`. */
export function sendHttpError(reply: FastifyReply, error: HttpError): FastifyReply {
  return reply.code(error.statusCode).headers(error.headers).send({ success: false, code: error.code, message: error.message });
}

/** The contract's 404 for a path no route matches (the query is left out: it is not the path). */
export function replyNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendHttpError(reply, new HttpError(404, 'NOT_FOUND', `No route for ${request.method} ${request.url.split('?')[0]}`));
}

/** Fastify's own errors that the contract answers with a status and code of its own. */
const FASTIFY_ERRORS: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  // A Content-Type header that is not a media type: the body cannot be read, as the contract's 400 says.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 400, code: 'INVALID_PAYLOAD' },
};

/**
 * One error shape for every service. Client errors keep their message; server errors are logged
 * (a database error by SQLSTATE and table, never its values: shared/logger.ts) and answered with a
 * generic message, so no internal detail (or health data) leaks out.
 */
export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
      const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (error instanceof HttpError) return sendHttpError(reply, error);
      if (statusCode >= 500) {
        request.log.error({ err: error }, 'request failed');
        return reply.code(statusCode).send({ success: false, code: 'INTERNAL', message: 'Internal error' });
      }
      const known = FASTIFY_ERRORS[error.code];
      const code = known?.code ?? (statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST');
      return reply.code(known?.status ?? statusCode).send({ success: false, code, message: error.message });
    });
    app.setNotFoundHandler(replyNotFound);
  },
  { name: 'error-handler' },
);
