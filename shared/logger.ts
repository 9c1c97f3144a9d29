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
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
}

export function createLogger(settings: LoggerSettings): Logger {
  const options = loggerOptions(settings);
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

export type { Logger };
