/**
 * Mints a relay token (HS256 JWT) for the mobile app or the watch page:
 *   npm run token -- --patient ID [--session ID] [--ttl SECONDS]
 * The secret is RELAY_JWT_SECRET from the environment or .env (generated there on first use,
 * like `npm start` does), so the token works against the relay started on this machine; a `--ttl`
 * the relay would refuse (above RELAY_TOKEN_MAX_TTL_S) is refused here.
 */
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';
import { signRelayToken } from '#shared/relay-token';
import { exitWithUsage, readCommandLine } from './cli/args.ts';

const DEFAULT_TTL_S = 3600;

const COMMAND = {
  name: 'token',
  usage: `Usage: npm run token -- --patient ID [--session ID] [--ttl SECONDS]
  --patient ID     the patient whose events the token may see (required)
  --session ID     only this session of theirs
  --ttl SECONDS    how long the token is valid (default ${DEFAULT_TTL_S}; at most RELAY_TOKEN_MAX_TTL_S)
  -h, --help       this help`,
  options: { patient: { type: 'string' }, session: { type: 'string' }, ttl: { type: 'string', default: String(DEFAULT_TTL_S) } },
} as const;

function main() {
  const { values } = readCommandLine(COMMAND);
  const ttl = Number(values.ttl);
  if (!values.patient) exitWithUsage(COMMAND, '--patient is required');
  if (!Number.isInteger(ttl) || ttl <= 0) exitWithUsage(COMMAND, '--ttl must be a whole number of seconds > 0');
  const { env } = resolveEnvironment(process.env, resolve('.env'), ['relay']);
  const config = loadConfig(env, ['relay']);
  if (ttl > config.relayTokenMaxTtlS) {
    throw new ConfigError(`--ttl ${ttl} is longer than RELAY_TOKEN_MAX_TTL_S (${config.relayTokenMaxTtlS} s): the relay would refuse the token`);
  }
  const expiresAt = Math.floor(Date.now() / 1000) + ttl;
  console.log(signRelayToken({ patientId: values.patient, expiresAt, ...(values.session ? { sessionId: values.session } : {}) }, config.relayJwtSecret));
}

try {
  main();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
