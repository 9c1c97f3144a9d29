import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, inArray, isNotNull } from 'drizzle-orm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { columnLabel, ENCRYPTED_TABLES } from '#shared/db/encrypted-columns';
import { auditEvents, patients, vapiEvents, vapiMessages, vapiSessions } from '#shared/db/schema';
import { nameDobKey } from '#shared/patient-identity';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { SEED_PATIENTS } from '../../scripts/seed/clinic-data.ts';
import { seedClinic } from '../../scripts/seed/seed-clinic.ts';
import { countByKey } from '../../scripts/keys/census.ts';
import { cliEnvironment, runScript, scriptPath } from '../helpers/cli.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { storePatientCalls } from '../helpers/patient-calls.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, track, closeApps, reset, close } = integrationResources();
const [ada, ben] = SEED_PATIENTS as [(typeof SEED_PATIENTS)[0], (typeof SEED_PATIENTS)[0]];
const oldKey = randomBytes(32);
const newKey = randomBytes(32);
const [oldId, newId] = [new FieldCipher([oldKey]).primaryKeyId, new FieldCipher([newKey]).primaryKeyId];
let config: Config;

const streams: (() => Promise<number>)[] = [];
afterEach(async () => {
  await Promise.all(streams.splice(0).map((stop) => stop()));
  await reset(config.queuePrefix);
});
afterAll(() => close());

/** The command run with `keys` (the first encrypts). */
const rewrap = (keys: Buffer[], ...args: string[]) => runScript('keys-rewrap.ts', args, cliEnvironment(config, keys));

/** An ingress and a worker running with `keys` (the first encrypts), in place of those running before. */
async function startRoles(keys: Buffer[]) {
  await closeApps();
  config = testConfig({
    DATA_ENCRYPTION_KEY: keys.map((key) => key.toString('base64')).join(','),
    QUEUE_PREFIX: config?.queuePrefix ?? `{test-${randomUUID().slice(0, 8)}}`,
  });
  const [ingress, worker] = track(await buildIngressApp({ config, logger: silentLogger() }), await buildWorkerApp({ config, logger: silentLogger() }));
  await Promise.all([ingress.ready(), worker.ready()]);
  return { ingress, worker };
}

/**
 * Final transcripts of other calls posted every few milliseconds until stopped, as live traffic
 * would; resolves with how many were taken in.
 */
function steadyStream(ingress: Awaited<ReturnType<typeof startRoles>>['ingress']) {
  let stopped = false;
  const callId = `call-${randomUUID()}`;
  const flowing = (async () => {
    let sent = 0;
    while (!stopped) {
      const raw = JSON.stringify({
        message: {
          type: 'transcript',
          role: 'user',
          transcriptType: 'final',
          transcript: `steady utterance ${sent}`,
          timestamp: Date.now() + sent,
          call: { id: callId },
        },
      });
      expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
      sent += 1;
      await new Promise((done) => setTimeout(done, 5));
    }
    return sent;
  })();
  const stop = () => ((stopped = true), flowing);
  streams.push(stop);
  return { callId, stop };
}

/** Opens every registered value with `cipher` alone; resolves with how many it opened. */
async function openEverything(cipher: FieldCipher) {
  let opened = 0;
  for (const entry of ENCRYPTED_TABLES) {
    for (const column of [...entry.text, ...entry.json]) {
      const rows = await handle.db.select({ value: column }).from(entry.table).where(isNotNull(column));
      for (const { value } of rows) {
        expect(
          () => (entry.json.includes(column) ? cipher.decryptJson(value as string) : cipher.decrypt(value as string)),
          columnLabel(entry, column),
        ).not.toThrow();
        opened += 1;
      }
    }
  }
  return opened;
}

describe('npm run keys:rewrap', () => {
  it('rewrites every value under the first key while events flow, so the old key can go and look-ups still work', async () => {
    const { ingress: oldIngress } = await startRoles([oldKey]);
    await seedClinic(handle.db, new FieldCipher([oldKey]));
    const calls = await storePatientCalls(oldIngress, handle, ada, 2);
    const { ingress } = await startRoles([newKey, oldKey]);

    expect((await rewrap([newKey, oldKey], '--check')).code).toBe(1);
    const before = await countByKey(handle.db);
    expect(before.filter((c) => c.keyId === oldId).map((c) => c.column)).toEqual(
      expect.arrayContaining(['vapi_messages.transcript', 'tool_calls.result', 'appointments.reason', 'vapi_sessions.caller_hash', 'patients.phone_hash']),
    );

    const stream = steadyStream(ingress);
    await waitFor(
      async () =>
        (
          await handle.db
            .select()
            .from(vapiMessages)
            .where(inArray(vapiMessages.sessionId, [stream.callId]))
        ).length > 0,
    );
    const { code, stdout } = await rewrap([newKey, oldKey], '--batch-size', '25');
    expect(code).toBe(0);
    const storedDuring = (
      await handle.db
        .select()
        .from(vapiMessages)
        .where(inArray(vapiMessages.sessionId, [stream.callId]))
    ).length;
    const sent = await stream.stop();
    expect(stdout).toMatch(/rewrapped [\d,]+\/[\d,]+ values \(100 %\)/);
    expect(storedDuring).toBeGreaterThan(1);
    await waitFor(
      async () =>
        (
          await handle.db
            .select()
            .from(vapiMessages)
            .where(inArray(vapiMessages.sessionId, [stream.callId]))
        ).length === sent,
    );

    const { stdout: checked } = await rewrap([newKey, oldKey], '--check');
    expect(checked).toMatch(new RegExp(`every value is under the first key, ${newId}`));
    expect((await countByKey(handle.db)).filter((c) => c.keyId !== newId)).toEqual([]);

    const onlyNew = new FieldCipher([newKey]);
    expect(await openEverything(onlyNew)).toBeGreaterThan(50);
    const byPhone = await handle.db
      .select({ id: patients.id })
      .from(patients)
      .where(inArray(patients.phoneHash, onlyNew.lookupHashes(ben.phoneNumber)));
    expect(byPhone).toEqual([{ id: ben.id }]);
    const byName = await handle.db
      .select({ id: patients.id })
      .from(patients)
      .where(inArray(patients.nameDobHash, onlyNew.lookupHashes(nameDobKey(`${ada.firstName} ${ada.lastName}`, ada.dateOfBirth))));
    expect(byName).toEqual([{ id: ada.id }]);
    const sessions = await handle.db
      .select({ callerHash: vapiSessions.callerHash })
      .from(vapiSessions)
      .where(
        inArray(
          vapiSessions.id,
          calls.map((call) => call.callId),
        ),
      );
    expect(sessions).toEqual(calls.map(() => ({ callerHash: onlyNew.lookupHash(ada.phoneNumber) })));
    const [audit] = await handle.db.select().from(auditEvents).where(eq(auditEvents.action, 'keys.rewrap'));
    expect(audit).toMatchObject({
      actor: 'system',
      action: 'keys.rewrap',
      source: 'cli',
      outcome: 'success',
      what: expect.arrayContaining([expect.stringMatching(/^vapi_messages\.transcript \(\d+\)$/)]),
    });
  });

  it('stops before changing anything when a value is under a key it was not given, and names the key', async () => {
    await startRoles([oldKey]);
    await seedClinic(handle.db, new FieldCipher([oldKey]));
    const before = await countByKey(handle.db);
    const failed = await rewrap([newKey]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`patients.first_name: ${SEED_PATIENTS.length} under key id ${oldId}`);
    expect(failed.stderr).toMatch(/add those keys after the first one/);
    expect(await countByKey(handle.db)).toEqual(before);
  });

  it("computes a caller hash again from its call's payloads, and drops one whose payloads are gone", async () => {
    await startRoles([oldKey]);
    const old = new FieldCipher([oldKey]);
    const number = '+15550100177';
    const body = { message: { type: 'status-update', status: 'ringing', timestamp: Date.now(), call: { id: 'call-kept', customer: { number } } } };
    await handle.db.insert(vapiSessions).values([
      { id: 'call-kept', callerHash: old.lookupHash(number) },
      { id: 'call-swept', callerHash: old.lookupHash(number) },
    ]);
    await handle.db.insert(vapiEvents).values({
      id: 'ev-1',
      sessionId: 'call-kept',
      type: 'status-update',
      occurredAt: new Date(),
      receivedAt: new Date(),
      payload: old.encrypt(JSON.stringify(body)),
    });

    const { stdout } = await rewrap([newKey, oldKey]);
    expect(stdout).toMatch(/1 session caller hash\(es\) dropped/);
    const rows = await handle.db.select({ id: vapiSessions.id, callerHash: vapiSessions.callerHash }).from(vapiSessions).orderBy(vapiSessions.id);
    expect(rows).toEqual([
      { id: 'call-kept', callerHash: new FieldCipher([newKey]).lookupHash(number) },
      { id: 'call-swept', callerHash: null },
    ]);
  });

  it('killed half-way, leaves every value readable, and a second run finishes what is left', async () => {
    await startRoles([oldKey]);
    const old = new FieldCipher([oldKey]);
    await handle.db.insert(vapiSessions).values({ id: 'call-long' });
    const count = 3_000;
    await handle.db.insert(vapiMessages).values(
      Array.from({ length: count }, (_, i) => ({
        sessionId: 'call-long',
        eventId: `ev-${i}`,
        role: 'user',
        transcript: old.encrypt(`utterance ${i}`),
        timestamp: new Date(1_800_000_000_000 + i),
      })),
    );
    const underNew = async () => (await countByKey(handle.db)).find((c) => c.column === 'vapi_messages.transcript' && c.keyId === newId)?.values ?? 0;

    // Node itself, not the tsx wrapper, so that the SIGKILL reaches the process doing the work.
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), scriptPath('keys-rewrap.ts'), '--batch-size', '10'], {
      cwd: mkdtempSync(join(tmpdir(), 'rewrap-')),
      env: cliEnvironment(config, [newKey, oldKey]),
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.once('exit', (_code, signal) => done(signal)));
    await waitFor(async () => (await underNew()) > 0, 20_000);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const halfway = await underNew();
    expect(halfway).toBeLessThan(count);
    expect(await openEverything(new FieldCipher([newKey, oldKey]))).toBe(count);

    const { stdout } = await rewrap([newKey, oldKey]);
    expect(stdout).toContain(`rewrapping ${(count - halfway).toLocaleString('en')} value(s)`);
    expect(await underNew()).toBe(count);
    expect((await rewrap([newKey, oldKey], '--check')).code).toBe(0);
    expect(await openEverything(new FieldCipher([newKey]))).toBe(count);
  });
});
