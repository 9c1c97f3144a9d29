/**
 * The events worker's store in a process of its own, for tests that kill it mid-batch: it stores
 * the jobs it reads from stdin (one `storeFor` job as JSON per line) through the worker's event
 * processor (`ready` on stdout once it reads). It completes nothing and publishes nothing: whatever
 * it committed is left as a worker killed right after a commit leaves it.
 */
import { createInterface } from 'node:readline';
import { FieldCipher } from '#shared/crypto';
import { createDatabase } from '#shared/db/client';
import { createEventProcessor, type EventToStore } from '../../services/worker/lib/event-processor.ts';
import { TEST_DATABASE_URL } from './environment.ts';

const cipher = new FieldCipher([Buffer.from(process.env.EVENT_STORE_KEY ?? '', 'base64')]);
const { db } = createDatabase(TEST_DATABASE_URL, { max: 2 });
const processEvent = createEventProcessor({ db, cipher, onCommit: () => {} });
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  processEvent(JSON.parse(line) as EventToStore).catch((error: unknown) => process.stdout.write(`failed ${(error as Error).name}\n`));
}
