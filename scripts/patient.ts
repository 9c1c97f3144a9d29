import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { exitWithUsage, readCommandLine, runCommand } from './cli/args.ts';
import { commandQueues, commandRedis, expectRedis } from './cli/redis.ts';
import { cliConfig } from './cli-config.ts';
import { erasePatient, planErasure, type ErasurePlan } from './patient/erase.ts';
import { EXPORT_FORMATS, exportPatient, type ExportFormat } from './patient/export.ts';

const USAGE = `usage: npm run patient -- export --patient ID [--format ${EXPORT_FORMATS.join('|')}]
       npm run patient -- erase --patient ID [--yes]

commands:
  export   everything held about a patient, to stdout (JSON, or a FHIR R4 Bundle with --format fhir)
  erase    remove the patient from Postgres and Redis; without --yes, only say what it would remove

options:
  --patient ID     the patient's id (as in patients.id)
  --format F       export: ${EXPORT_FORMATS.join(' or ')} (default json)
  --yes            erase: really erase
  -h, --help       this text

exit status: 0 done; 1 an unknown patient, a call in progress, an erase not confirmed or an error;
2 a usage error.`;
const COMMAND = {
  name: 'patient',
  usage: USAGE,
  options: { patient: { type: 'string' }, format: { type: 'string', default: 'json' }, yes: { type: 'boolean' } },
  allowPositionals: true,
} as const;

/**
 * `npm run patient`: a patient's copy of everything held about them (JSON, or a FHIR R4 Bundle),
 * to stdout, and their erasure from Postgres and Redis (scripts/patient/). Both are recorded in
 * `audit_events` as done from `cli`. Without `--yes`, erase only says what it would remove. Exit 1
 * for an unknown patient, a call in progress or an erase not confirmed; 2 for a usage error.
 */
const { values, positionals } = readCommandLine(COMMAND);
const [command, ...extra] = positionals;
const fail = (message: string) => exitWithUsage(COMMAND, message);
if (command === undefined) fail('no command given: export or erase');
if (command !== 'export' && command !== 'erase') fail(`unknown command ${command}: export or erase`);
if (extra.length > 0) fail(`unexpected argument ${extra[0]}`);
const patientId = values.patient ?? fail('--patient is required');
if (!EXPORT_FORMATS.includes(values.format as ExportFormat)) fail(`unknown format ${values.format}`);

const config = cliConfig();
const cipher = new FieldCipher(config.dataEncryptionKeys);
const handle = createDatabase(config.databaseUrl, { max: 2 });
const redis = commandRedis(config.redis);
const queues = commandQueues(redis, config.redis, config.queuePrefix);

function describe(plan: ErasurePlan): string {
  const jobs = Object.entries(plan.jobs).filter(([, list]) => list.length > 0);
  return [
    ...Object.entries(plan.rows).map(([table, n]) =>
      table === 'audit_events' ? `  audit_events: ${n} row(s) kept, naming the patient by pseudonym` : `  ${table}: ${n}`,
    ),
    `  redis: ${jobs.reduce((sum, [, list]) => sum + list.length, 0)} queued job(s)${jobs.length > 0 ? ` (${jobs.map(([queue, list]) => `${queue} ${list.length}`).join(', ')})` : ''}, ${plan.bindings.length} call binding(s)`,
  ].join('\n');
}

async function main(): Promise<number> {
  await expectRedis(redis, config.redis);
  if (command === 'export') {
    process.stdout.write(`${await exportPatient(handle.db, cipher, patientId, values.format as ExportFormat, 'cli')}\n`);
    return 0;
  }
  const resources = { db: handle.db, cipher, redis, queues, prefix: config.queuePrefix };
  const plan = await planErasure(resources, patientId);
  if (!values.yes) {
    console.log(`erasing patient ${patientId} would remove:\n${describe(plan)}\nnothing was changed: run again with --yes to erase`);
    return 1;
  }
  if (plan.active > 0)
    console.error(`${plan.active} job(s) of this patient's calls are running right now and cannot be removed: run erase again once they are done`);
  const erased = await erasePatient(resources, plan, 'cli');
  console.log(`erased patient ${patientId}:\n${describe({ ...plan, rows: erased.rows })}\nrelays were told to close the patient's sockets`);
  return plan.active > 0 ? 1 : 0;
}

await runCommand(main, async () => {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
  redis.disconnect();
  await handle.close();
});
