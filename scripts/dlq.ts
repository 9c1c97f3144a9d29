import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { QUEUE_KEYS, type QueueKey } from '#shared/queues/catalog';
import { JobCodec } from '#shared/queues/codec';
import { createDeadLetters, type DeadLetter, type DeadLetterFilter } from '#shared/queues/dead-letters';
import { exitWithUsage, readCommandLine, runCommand } from './cli/args.ts';
import { commandQueues, commandRedis, expectRedis } from './cli/redis.ts';
import { cliConfig } from './cli-config.ts';

const COMMANDS = ['list', 'show', 'replay', 'purge'] as const;
const USAGE = `usage: npm run dlq -- <command> [options]

The dead letters (jobs that failed for good) of every queue, straight from Redis and Postgres.

commands:
  list                   the dead letters, newest first: a table, or --json
  show ID                one dead letter with its payload opened (recorded in the audit log)
  replay ID… | --all     put dead letters back with a fresh attempt budget
  purge ID… | --all      remove dead letters

options:
  --queue ${QUEUE_KEYS.join('|')}
  --id ID                a dead letter's id, as list prints it (repeatable; or give ids after the command)
  --all                  every dead letter the filters select (replay and purge need ids, a filter or --all)
  --type T               job name: the event type, the tool's name, the notification's type
  --error TEXT           text in the last error
  --since ISO, --until ISO
  --json                 list: one JSON array, for machines
  --endpoint URL         replay: send replayed notifications to this URL instead
  -h, --help             this text

A replayed notification goes to the endpoints configured when it is sent again: it goes back to the
outbox, and the worker sends it to its NOTIFY_WEBHOOK_URL entries of that moment (skipping any that
already have it), not to the endpoint it was first queued for. With --endpoint URL, it goes to that
URL only. Tool calls past their deadline are not replayed (the caller hung up).

exit status: 0 done; 1 an id that is no dead letter (nothing done), a letter skipped, or an error;
2 a usage error.`;
const COMMAND = {
  name: 'dlq',
  usage: USAGE,
  options: {
    queue: { type: 'string' },
    id: { type: 'string', multiple: true },
    all: { type: 'boolean' },
    type: { type: 'string' },
    error: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean' },
    endpoint: { type: 'string' },
  },
  allowPositionals: true,
} as const;

const { values, positionals } = readCommandLine(COMMAND);
const [command, ...idArguments] = positionals;
const fail = (message: string) => exitWithUsage(COMMAND, message);
const date = (value: string | undefined, name: string) => {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? fail(`--${name} is not an ISO date: ${value}`) : parsed;
};
if (!command) fail('no command given');
if (!(COMMANDS as readonly string[]).includes(command!)) fail(`unknown command ${command}`);
if (values.queue && !QUEUE_KEYS.includes(values.queue as QueueKey)) fail(`unknown queue ${values.queue}`);
const ids = [...(values.id ?? []), ...idArguments];
const filter: DeadLetterFilter = {
  queue: values.queue as QueueKey | undefined,
  ids: ids.length > 0 ? ids : undefined,
  type: values.type,
  error: values.error,
  since: date(values.since, 'since'),
  until: date(values.until, 'until'),
};
const namesSomething = values.all || filter.ids || filter.type || filter.error || filter.since || filter.until;
if ((command === 'replay' || command === 'purge') && !namesSomething) fail(`${command} needs ids, a filter or --all`);
if (command === 'show' && ids.length !== 1) fail('show needs one id');
if (command !== 'list' && values.json) fail('--json is for list');
if (values.endpoint !== undefined && (command !== 'replay' || !URL.canParse(values.endpoint) || !/^https?:$/.test(new URL(values.endpoint).protocol))) {
  fail(command === 'replay' ? `--endpoint must be an http(s) URL: ${values.endpoint}` : '--endpoint is for replay');
}

/** The list as a table as wide as the terminal (the error column takes what is left); full width when not a terminal. */
function table(letters: DeadLetter[]): string {
  const header = ['QUEUE', 'ID', 'NAME', 'ATTEMPTS', 'FAILED AT', 'ERROR'];
  const rows = letters.map((l) => [
    l.queue,
    l.id,
    l.replayable ? l.name : `${l.name} (expired)`,
    String(l.attempts),
    l.failedAt ?? '-',
    l.error.replace(/\s+/g, ' '),
  ]);
  const widths = header.slice(0, -1).map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const room = Math.max(20, (process.stdout.columns ?? Infinity) - widths.reduce((sum, width) => sum + width + 2, 0));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column < widths.length ? cell.padEnd(widths[column]!) : cell.length > room ? `${cell.slice(0, room - 1)}…` : cell)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const config = cliConfig();
const redis = commandRedis(config.redis);
const queues = commandQueues(redis, config.redis, config.queuePrefix);
const handle = createDatabase(config.databaseUrl, { max: 2 });
const deadLetters = createDeadLetters(queues, handle.db, new JobCodec(new FieldCipher(config.dataEncryptionKeys)));

async function main(): Promise<number> {
  await expectRedis(redis, config.redis);
  if (command === 'list') {
    const letters = await deadLetters.list(filter);
    if (values.json) console.log(JSON.stringify(letters, null, 2));
    else console.log(`${letters.length > 0 ? `${table(letters)}\n` : ''}${letters.length} dead letter(s)`);
    return 0;
  }
  if (command === 'show') {
    const shown = await deadLetters.show(filter.queue, ids[0]!, 'cli');
    if (!shown) {
      console.error(`error: no job ${ids[0]} in ${filter.queue ? `queue ${filter.queue}` : 'any queue'}`);
      return 1;
    }
    console.log(JSON.stringify(shown, null, 2));
    return 0;
  }
  if (command === 'replay') {
    const { replayed, skipped } = await deadLetters.replay(filter, 'cli', { endpoint: values.endpoint });
    console.log(`replayed ${replayed}`);
    for (const { id, reason } of skipped) console.error(`skipped ${id}: ${reason}`);
    return skipped.length > 0 ? 1 : 0;
  }
  console.log(`purged ${(await deadLetters.purge(filter, 'cli')).purged}`);
  return 0;
}

await runCommand(main, async () => {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
  redis.disconnect();
  await handle.close();
});
