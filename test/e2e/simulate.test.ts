import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inArray } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { appointments, toolCalls, vapiMessages, vapiSessions } from '#shared/db/schema';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { WORDS_PER_MINUTE } from '../../scripts/simulate/pace.ts';
import { runScript, scriptPath } from '../helpers/cli.ts';
import { silentLogger, testConfig, TEST_WEBHOOK_SECRET } from '../helpers/config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/environment.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const { handle, track, reset, close } = integrationResources();
// The simulator signs as Vapi's default HMAC credential would: timestamp header, {timestamp}.{body}.
const config = testConfig({ VAPI_SIGNATURE_HEADER: 'x-signature', VAPI_TIMESTAMP_HEADER: 'x-timestamp' });

afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

/** What the simulator runs with: the test servers, and the webhook credential the test's ingress verifies. */
const env = {
  PATH: process.env.PATH,
  DATABASE_URL: TEST_DATABASE_URL,
  REDIS_URL: TEST_REDIS_URL,
  VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
  VAPI_SIGNATURE_HEADER: 'x-signature',
  VAPI_TIMESTAMP_HEADER: 'x-timestamp',
  DATA_ENCRYPTION_KEY: config.dataEncryptionKeys.map((key) => key.toString('base64')).join(','),
  ADMIN_TOKEN: config.adminToken,
};
const simulate = (...args: string[]) => runScript('simulate.ts', args, env);

/** A running ingress and worker on the test's queues; resolves with the ingress's base URL. */
async function startStack(): Promise<string> {
  const ingress = await buildIngressApp({ config, logger: silentLogger() });
  const worker = await buildWorkerApp({ config, logger: silentLogger() });
  track(ingress, worker);
  await worker.ready();
  return ingress.listen({ host: '127.0.0.1', port: 0 });
}

/** The seconds since the start a timeline line of call 1 gives for `what`. */
const timeOf = (timeline: string, what: string) => {
  const line = timeline.split('\n').find((l) => l.includes('call   1') && l.includes(what));
  return line ? Number(/\+\s*([\d.]+) s/.exec(line)![1]) : undefined;
};

describe('npm run simulate', () => {
  it("plays its three calls against a running stack given the ingress's base URL, exits 0, and the database holds the calls", async () => {
    await seedClinic(handle.db, new FieldCipher(config.dataEncryptionKeys));
    const base = await startStack();

    const { code, stdout } = await simulate('--url', base, '--calls', '3');
    expect(code).toBe(0);
    expect(stdout).toContain(`to ${base}${WEBHOOK_PATH}`);
    // Fast pace: an utterance is not spoken out (13 words would take 5.2 s).
    expect(timeOf(stdout, 'transcript assistant final')! - timeOf(stdout, 'speech-update assistant started')!).toBeLessThan(4);
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

  it('plays at speaking pace with --pace realtime, given the full webhook URL', async () => {
    const base = await startStack();
    const child = spawn(
      join(ROOT, 'node_modules/.bin/tsx'),
      [scriptPath('simulate.ts'), '--url', `${base}${WEBHOOK_PATH}`, '--calls', '1', '--pace', 'realtime'],
      {
        cwd: mkdtempSync(join(tmpdir(), 'simulate-')),
        env,
      },
    );
    let timeline = '';
    child.stdout.on('data', (chunk: Buffer) => (timeline += chunk.toString()));
    try {
      // The first utterance has 13 words: at 150 words a minute, 5.2 s from its start to its final transcript.
      await waitFor(() => timeOf(timeline, 'transcript assistant final') !== undefined, 20_000);
      const spoken = timeOf(timeline, 'transcript assistant final')! - timeOf(timeline, 'speech-update assistant started')!;
      expect(spoken).toBeGreaterThanOrEqual(13 * (60 / WORDS_PER_MINUTE) * 0.95);
      expect(spoken).toBeLessThan(13 * (60 / WORDS_PER_MINUTE) + 5);
    } finally {
      child.kill();
    }
  });

  it('stops at the first 404, saying which path it expected, and exits non-zero', async () => {
    const base = await startStack();
    const { code, stdout, stderr } = await simulate('--url', `${base}/not-here`, '--calls', '3');
    expect(code).toBe(1);
    expect(stderr).toContain(`${base}/not-here${WEBHOOK_PATH} answered 404`);
    expect(stderr).toContain(`The ingress serves it at ${WEBHOOK_PATH}`);
    expect(stdout).not.toContain('calls:');
  });

  it('prints its usage for --help, and a one-line error with the usage (exit 2, no stack) for a bad command line', async () => {
    const help = await simulate('--help');
    expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: npm run simulate -- [--url URL]') });
    for (const [args, message] of [
      [['--bogus'], 'unknown option --bogus'],
      [['--url'], '--url needs a value'],
      [['--url', '--calls', '2'], '--url needs a value'],
      [['--pace', 'slow'], '--pace must be fast or realtime, not slow'],
      [['--calls', '0'], '--calls must be a positive integer'],
      [['--url', 'ftp://clinic'], '--url must be an http(s) URL'],
    ] as const) {
      const { code, stderr } = await simulate(...args);
      expect({ args, code, first: stderr.split('\n')[0] }).toEqual({ args, code: 2, first: expect.stringContaining(`npm run simulate: ${message}`) });
      expect(stderr).toContain('Usage: npm run simulate');
      expect(stderr).not.toMatch(/^\s+at /m);
    }
  });
});
