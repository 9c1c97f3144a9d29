import { recordAudit } from '#shared/audit';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { exitWithUsage, readCommandLine, runCommand } from './cli/args.ts';
import { cliConfig } from './cli-config.ts';
import { countByKey, formatCensus, remaining, undecryptable } from './keys/census.ts';
import { progressReporter } from './keys/progress.ts';
import { MissingKeyError, rewrapAll } from './keys/rewrap.ts';

const USAGE = `usage: npm run keys:rewrap [-- --check] [--batch-size N]

The last step of a key rotation: re-encrypts every stored value under the first key of
DATA_ENCRYPTION_KEY, in small batches while the system runs; run again after a crash.

options:
  --check          count the values under each key id; exit 1 while any is under a key that is not first
  --batch-size N   rows per transaction, 1 to 10000
  -h, --help       this text

exit status: 0 done; 1 values left (or under a key not given, or unreadable); 2 a usage error.`;
const COMMAND = { name: 'keys:rewrap', usage: USAGE, options: { check: { type: 'boolean' }, 'batch-size': { type: 'string' } } } as const;

/**
 * `npm run keys:rewrap`: the last step of a key rotation. Re-encrypts every stored value under the
 * first key of DATA_ENCRYPTION_KEY and recomputes the keyed hashes, in small batches while the
 * system runs (scripts/keys/rewrap.ts); run again after a crash, it finds only what is left.
 * `--check` prints how many values each key id holds and exits 1 while any is under a key that
 * is not first: at 0, the old keys can be removed. Exit 1 as well when a value needs a key not
 * given, or could not be rewritten; 2 for a usage error.
 */
const { values } = readCommandLine(COMMAND);
const batchSize = values['batch-size'] === undefined ? undefined : Number(values['batch-size']);
if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)) {
  exitWithUsage(COMMAND, `--batch-size must be a whole number from 1 to 10000: ${values['batch-size']}`);
}

const config = cliConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);
const handle = createDatabase(config.databaseUrl, { max: 2 });
const primary = cipher.primaryKeyId;

async function check(): Promise<number> {
  const census = await countByKey(handle.db);
  console.log(formatCensus(census, cipher.keyIds));
  const left = remaining(census, primary);
  console.log(
    left === 0
      ? `every value is under the first key, ${primary}: older keys can be removed`
      : `${left.toLocaleString('en')} value(s) under keys that are not first (${primary}): run npm run keys:rewrap`,
  );
  return left === 0 ? 0 : 1;
}

async function rewrap(): Promise<number> {
  const census = await countByKey(handle.db);
  const missing = undecryptable(census, cipher.keyIds);
  if (missing.length > 0) {
    console.error(`values are encrypted under keys DATA_ENCRYPTION_KEY does not hold, so they cannot be rewritten:`);
    for (const m of missing) console.error(`  ${m.column}: ${m.values} under key id ${m.keyId}`);
    console.error('add those keys after the first one and run again');
    return 1;
  }
  const total = remaining(census, primary);
  if (total === 0) {
    console.log(`nothing to rewrap: every value is under the first key, ${primary}`);
    return 0;
  }
  console.log(`rewrapping ${total.toLocaleString('en')} value(s) under key ${primary}`);
  const progress = progressReporter(total);
  const report = await rewrapAll(handle.db, cipher, { ...(batchSize ? { batchSize } : {}), onProgress: (done) => progress.update(done) });
  const rewritten = Object.entries(report.rewritten);
  progress.finish(rewritten.reduce((sum, [, n]) => sum + n, 0));
  await recordAudit(handle.db, {
    actor: 'system',
    action: 'keys.rewrap',
    what: rewritten.map(([column, n]) => `${column} (${n})`),
    source: 'cli',
    outcome: report.unreadable.length > 0 || report.busy > 0 ? 'failed' : 'success',
  });
  for (const [column, n] of rewritten) console.log(`  ${column}: ${n.toLocaleString('en')}`);
  if (report.dropped > 0) console.log(`${report.dropped} session caller hash(es) dropped: their calls' raw payloads, the only copy of the number, are gone`);
  for (const { column, key } of report.unreadable) console.error(`${column} of row ${key} does not open (tampered or corrupt): left as it is`);
  if (report.busy > 0) console.error(`${report.busy} row(s) stayed locked or kept changing: run again`);
  const left = remaining(await countByKey(handle.db), primary);
  if (left > 0)
    console.error(
      `${left.toLocaleString('en')} value(s) still under other keys (written meanwhile by a process whose first key is not ${primary}?): run again`,
    );
  return left > 0 || report.unreadable.length > 0 || report.busy > 0 ? 1 : 0;
}

await runCommand(
  async () => {
    try {
      return values.check ? await check() : await rewrap();
    } catch (error) {
      if (error instanceof MissingKeyError) error.message = `${error.message}: add that key after the first one and run again`;
      throw error;
    }
  },
  () => handle.close(),
);
