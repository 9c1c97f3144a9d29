import { parseArgs } from 'node:util';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { openCatalogQueues } from '#shared/plugins/queues';
import { QUEUE_KEYS, type QueueKey } from '#shared/queues/catalog';
import { JobCodec } from '#shared/queues/codec';
import { createRedis } from '#shared/redis';
import { createDeadLetters, type DeadLetterFilter } from '../services/ingress/lib/dead-letters.ts';
import { cliConfig } from './cli-config.ts';

const USAGE = `npm run dlq -- list|show|replay|purge [--queue ${QUEUE_KEYS.join('|')}] [--id ID …] [--all] [--type T] [--error TEXT] [--since ISO] [--until ISO]`;

/**
 * `npm run dlq`: the dead letters of every queue, from a shell, straight from Redis and Postgres
 * (the same library as the admin API, so it works with the ingress down). `replay` resets the
 * attempt count; every replay, purge and show is recorded in `audit_events` as done from `cli`.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string' },
    id: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    type: { type: 'string' },
    error: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
  },
});
const [command] = positionals;
const fail = (message: string): never => {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
};
const date = (value: string | undefined, name: string) => {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? fail(`--${name} is not an ISO date: ${value}`) : parsed;
};
if (!command || !['list', 'show', 'replay', 'purge'].includes(command)) fail('say what to do');
if (values.queue && !QUEUE_KEYS.includes(values.queue as QueueKey)) fail(`unknown queue ${values.queue}`);
const filter: DeadLetterFilter = {
  queue: values.queue as QueueKey | undefined,
  ids: values.id,
  type: values.type,
  error: values.error,
  since: date(values.since, 'since'),
  until: date(values.until, 'until'),
};
const namesSomething = values.all || filter.ids || filter.type || filter.error || filter.since || filter.until;
if ((command === 'replay' || command === 'purge') && !namesSomething) fail(`${command} needs --id, a filter, or --all`);
if (command === 'show' && (!filter.queue || filter.ids?.length !== 1)) fail('show needs --queue and one --id');

const config = cliConfig();
const logger = { error: (details: object, message: string) => console.error(message, details) };
const redis = createRedis(config.redis, 'worker', logger);
const queues = openCatalogQueues(redis, config.queuePrefix, (error, queue) => console.error(`queue ${queue}: ${error.message}`));
const handle = createDatabase(config.databaseUrl, { max: 2 });
const deadLetters = createDeadLetters(queues, handle.db, new JobCodec(new FieldCipher(config.dataEncryptionKeys)));

try {
  if (command === 'list') {
    const letters = await deadLetters.list(filter);
    console.table(letters.map(({ queue, id, name, sessionId, attempts, failedAt, error, replayable }) => ({ queue, id: id.slice(0, 16), name, sessionId, attempts, failedAt, error: error.slice(0, 60), replayable })));
    console.log(`${letters.length} dead letter(s)`);
  } else if (command === 'show') {
    console.log(JSON.stringify(await deadLetters.show(filter.queue!, filter.ids![0]!, 'cli'), null, 2));
  } else if (command === 'replay') {
    const { replayed, skipped } = await deadLetters.replay(filter, 'cli');
    console.log(`replayed ${replayed}${skipped.length > 0 ? `; skipped ${skipped.length}: ${skipped.map((s) => `${s.id} (${s.reason})`).join(', ')}` : ''}`);
  } else {
    console.log(`purged ${(await deadLetters.purge(filter, 'cli')).purged}`);
  }
} finally {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
  redis.disconnect();
  await handle.close();
}
