import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { databaseErrorSummary } from './db/errors.ts';

/**
 * Paths censored in every log line. Handlers log ids, types and outcomes, never payloads; this list
 * is the second line of defence for health data and credentials that slip into a logged object.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-vapi-secret"]',
  'req.headers["x-vapi-signature"]',
  'req.headers["x-signature"]',
  'transcript',
  '*.transcript',
  'phoneNumber',
  '*.phoneNumber',
  'number',
  '*.number',
  'customer',
  '*.customer',
  'firstName',
  '*.firstName',
  'lastName',
  '*.lastName',
  'fullName',
  '*.fullName',
  'dateOfBirth',
  '*.dateOfBirth',
  'arguments',
  '*.arguments',
  'summary',
  '*.summary',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'password',
  '*.password',
  'err.detail',
  'err.parameters',
];

/**
 * Errors as pino writes them, except database errors: their message, the head of their stack and
 * their fields quote the statement's values (health data, an operator's filter), so only the
 * SQLSTATE, the schema objects and the stack frames are kept.
 */
function serializeError(error: Error): Record<string, unknown> {
  const summary = databaseErrorSummary(error);
  if (summary === undefined) return pino.stdSerializers.err(error);
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  return { type: error.name, message: summary, stack: [summary, ...frames].join('\n') };
}

/** A request as log lines show it (when one does): the path without its query, which may carry filter values. */
function serializeRequest(request: { method?: string; url?: string; ip?: string }): Record<string, unknown> {
  return { method: request.method, path: request.url?.split('?')[0], remoteAddress: request.ip };
}

export interface LoggerSettings {
  level: string;
  /** Name of the product in every line; each service adds its `role` in a child logger. */
  service: string;
  /** Human-readable output; defaults to whether stdout is a terminal. */
  pretty?: boolean;
  /** Where JSON lines go; stdout by default. */
  destination?: DestinationStream;
}

/** Pino options shared by every service: JSON lines in production, pretty on a terminal. */
export function loggerOptions({ level, service, pretty = process.stdout.isTTY === true }: LoggerSettings): LoggerOptions {
  return {
    level,
    base: { service },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    // Fastify adopts these for its own lines too (they win over its defaults).
    serializers: { err: serializeError, req: serializeRequest },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
}

export function createLogger(settings: LoggerSettings): Logger {
  const options = loggerOptions(settings);
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

export type { Logger };
