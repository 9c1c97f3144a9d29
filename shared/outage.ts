/** How often, at most, a process says a server is unreachable while it stays so. */
export const UNREACHABLE_LOG_INTERVAL_MS = 15_000;

/** Errors that mean the server is not there (not a command's own failure): every connection of a process sees them at once. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|Connection is closed|CONNECT_TIMEOUT/;

export const isUnreachable = (error: unknown): boolean =>
  error instanceof Error && (UNREACHABLE.test(error.message) || UNREACHABLE.test(String((error as { code?: unknown }).code)) || isUnreachable(error.cause));

interface OutageLogger {
  error(details: object, message: string): void;
  info?(details: object, message: string): void;
}

/**
 * The one account of a server's outage for the whole process: instead of a line with a stack from
 * every connection on every retry, one line saying where it is and what to set, at most every
 * UNREACHABLE_LOG_INTERVAL_MS, and one when it answers again.
 */
export function outageLog(server: string, remedy: string) {
  let down = false;
  let loggedAt = 0;
  return {
    unreachable(error: Error, logger: OutageLogger): void {
      if (down && Date.now() - loggedAt < UNREACHABLE_LOG_INTERVAL_MS) return;
      down = true;
      loggedAt = Date.now();
      logger.error({ server, reason: error.message }, `${server} is unreachable (${error.message}): ${remedy}; retrying`);
    },
    reachable(logger: OutageLogger): void {
      if (!down) return;
      down = false;
      logger.info?.({ server }, `${server} answers again`);
    },
  };
}
