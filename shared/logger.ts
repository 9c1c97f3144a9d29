import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

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
 * Errors as pino's standard serializer writes them, less what ioredis attaches to a refused command:
 * its `command.args`, which for a queue add is the whole sealed job (1.7 KB a line, every webhook,
 * while Redis refuses writes). A Redis refusal is one short line: its name and its message, which
 * say all there is (`ReplyError: OOM command not allowed …`); the stack of a reply is the parser's.
 */
export function serializeError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (!isSerializedError(serialized)) return serialized;
  if ('command' in serialized) delete serialized.stack;
  withoutCommands(serialized);
  return serialized;
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
    serializers: { err: serializeError },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
}

export function createLogger(settings: LoggerSettings): Logger {
  const options = loggerOptions(settings);
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

export type { Logger };
