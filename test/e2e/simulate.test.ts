import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { inArray } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { appointments, toolCalls, vapiMessages, vapiSessions } from '#shared/db/schema';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { silentLogger, testConfig, TEST_WEBHOOK_SECRET } from '../helpers/config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/environment.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const { handle, track, reset, close } = integrationResources();
// The simulator signs as Vapi's default HMAC credential would: timestamp header, {timestamp}.{body}.
const config = testConfig({ VAPI_SIGNATURE_HEADER: 'x-signature', VAPI_TIMESTAMP_HEADER: 'x-timestamp' });

afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

describe('npm run simulate', () => {
  it('plays its three calls against a running stack, exits 0, and the database holds the calls', async () => {
    await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
    const ingress = await buildIngressApp({ config, logger: silentLogger() });
    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    track(ingress, worker);
    await worker.ready();
    const url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;

    const { stdout } = await run(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'scripts/simulate.ts'), '--url', url, '--calls', '3'], {
      cwd: mkdtempSync(join(tmpdir(), 'simulate-')),
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
        VAPI_SIGNATURE_HEADER: 'x-signature',
        VAPI_TIMESTAMP_HEADER: 'x-timestamp',
        DATA_ENCRYPTION_KEY: config.dataEncryptionKeys.map((key) => key.toString('base64')).join(','),
        ADMIN_TOKEN: config.adminToken,
      },
    });
    expect(stdout).toContain('every event accepted, every tool call answered');
    const ids = /calls: (.+)/.exec(stdout)![1]!.split(', ');
    expect(ids).toHaveLength(3);

    const sessions = await waitFor(async () => {
      const rows = await handle.db.select().from(vapiSessions).where(inArray(vapiSessions.id, ids));
      return rows.length === 3 && rows.every((row) => row.status === 'completed') && rows;
    }, 15_000);
    expect(sessions.map((s) => s.patientVerified).sort()).toEqual([false, true, true]);
    expect((await handle.db.select().from(vapiMessages).where(inArray(vapiMessages.sessionId, ids))).length).toBeGreaterThanOrEqual(10);
    const tools = await handle.db.select().from(toolCalls).where(inArray(toolCalls.sessionId, ids));
    expect(tools.map((t) => `${t.name}:${t.status}`).sort()).toEqual([
      'check_availability:succeeded',
      'get_health_records:succeeded',
      'lookup_order:succeeded',
      'lookup_patient_info:succeeded',
      'schedule_appointment:succeeded',
    ]);
    expect(await handle.db.select().from(appointments).where(inArray(appointments.sessionId, ids))).toHaveLength(1);
  });
});
