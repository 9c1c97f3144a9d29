/**
 * Mints a relay token (HS256 JWT) for the mobile app or the watch page:
 *   npm run token -- --patient ID [--session ID] [--ttl SECONDS]
 * The secret is RELAY_JWT_SECRET from the environment or .env (generated there on first use,
 * like `npm start` does), so the token works against the relay started on this machine; a `--ttl`
 * the relay would refuse (above RELAY_TOKEN_MAX_TTL_S) is refused here.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';
import { signRelayToken } from '#shared/relay-token';

const DEFAULT_TTL_S = 3600;

function main() {
  const { values } = parseArgs({
    options: { patient: { type: 'string' }, session: { type: 'string' }, ttl: { type: 'string', default: String(DEFAULT_TTL_S) } },
  });
  const ttl = Number(values.ttl);
  if (!values.patient) throw new ConfigError('Usage: npm run token -- --patient ID [--session ID] [--ttl SECONDS]');
  if (!Number.isInteger(ttl) || ttl <= 0) throw new ConfigError('--ttl must be a whole number of seconds > 0');
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
