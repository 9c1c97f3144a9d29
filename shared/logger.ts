import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { databaseErrorSummary } from './db/errors.ts';
import { traceFields } from './tracing.ts';

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

/** What a Redis client attaches to an error of a command: the command and its arguments (a queued job, sealed). */
const COMMAND_FIELDS = ['command', 'args'];

/** What pino's serializer makes of an error, to tell the errors nested in one from other values. */
const SERIALIZED_ERROR = Object.getPrototypeOf(pino.stdSerializers.err(new Error('probe'))) as object;
const isSerializedError = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === SERIALIZED_ERROR;

/** Drops the command fields from a serialized error and from every error serialized inside it. */
function withoutCommands(serialized: Record<string, unknown>): void {
  for (const field of COMMAND_FIELDS) delete serialized[field];
  for (const inner of Object.values(serialized).flat()) if (isSerializedError(inner)) withoutCommands(inner);
}

/**
 * Errors as pino's standard serializer writes them, less what would carry health data or a sealed job:
 * - a database error's message, the head of its stack and its fields quote the statement's values
 *   (health data, an operator's filter), so only the SQLSTATE, the schema objects and the frames stay;
 * - ioredis attaches a refused command's `command.args`, which for a queue add is the whole sealed
 *   job (1.7 KB a line, every webhook, while Redis refuses writes): a Redis refusal is one short line,
 *   its name and message (`ReplyError: OOM command not allowed …`); the stack of a reply is the parser's.
 */
export function serializeError(error: unknown): unknown {
  const summary = error instanceof Error ? databaseErrorSummary(error) : undefined;
  if (summary !== undefined) {
    const frames = ((error as Error).stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
    return { type: (error as Error).name, message: summary, stack: [summary, ...frames].join('\n') };
  }
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (!isSerializedError(serialized)) return serialized;
  if ('command' in serialized) delete serialized.stack;
  withoutCommands(serialized);
  return serialized;
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
  /** The active span's `trace_id` and `span_id` in every line (when tracing is on). */
  traceIds?: boolean;
}

/** Pino options shared by every service: JSON lines in production, pretty on a terminal. */
export function loggerOptions({ level, service, pretty = process.stdout.isTTY === true, traceIds = false }: LoggerSettings): LoggerOptions {
  return {
    level,
    base: { service },
    ...(traceIds ? { mixin: traceFields } : {}),
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
