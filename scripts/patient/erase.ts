import type { Job, Queue } from 'bullmq';
import { count, eq, getTableName, sql } from 'drizzle-orm';
import { auditPseudonym, recordAudit } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { auditEvents, notificationOutbox, patients, vapiSessions } from '#shared/db/schema';
import type { CatalogQueues } from '#shared/plugins/queues';
import { jobSessionId, QUEUE_KEYS } from '#shared/queues/catalog';
import type { RedisClient } from '#shared/redis';
import { callBindingKey, patientChannel, patientErasedMessage } from '#shared/relay';
import { sealForPatient } from '#shared/relay-messages';
import { auditRowsOf, notificationsOf, patientRows, sessionsOf, UnknownPatientError } from './patient-data.ts';

/** Job states whose jobs can be removed; an active job is locked by the worker running it. */
const REMOVABLE_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;
/** Jobs read per page while looking for those naming the patient's calls. */
const JOB_PAGE = 500;
/** A call with an event this recent that has not ended is going on: erasing it now, its next event would bring it back. */
const LIVE_CALL_WINDOW_MS = 15 * 60_000;

/** The patient has a call going on: erase once it has ended. */
export class CallInProgressError extends Error {
  override name = 'CallInProgressError';
}

/** Where the patient's data is, and how much of it: what an erasure removes. */
export interface ErasurePlan {
  patientId: string;
  sessionIds: string[];
  /** Rows per table. */
  rows: Record<string, number>;
  /** Jobs naming their calls, per queue, in the states that can be removed. */
  jobs: Record<string, Job[]>;
  /** Jobs naming their calls that a worker is running at this moment (they cannot be removed). */
  active: number;
  /** Call→patient binding keys in Redis. */
  bindings: string[];
}

export interface ErasureResources {
  db: Database;
  cipher: FieldCipher;
  redis: RedisClient;
  queues: CatalogQueues;
  prefix: string;
}

async function jobsNaming(queues: CatalogQueues, sessionIds: Set<string>) {
  const jobs: Record<string, Job[]> = {};
  let active = 0;
  for (const key of QUEUE_KEYS) {
    const queue = queues[key] as unknown as Queue;
    jobs[key] = [];
    for (const states of [REMOVABLE_STATES, ['active'] as const]) {
      for (let start = 0; ; start += JOB_PAGE) {
        const page = (await queue.getJobs([...states], start, start + JOB_PAGE - 1)) as Job[];
        const naming = page.filter((job) => job && sessionIds.has(jobSessionId(job.data as Record<string, unknown>) ?? ''));
        if (states[0] === 'active') active += naming.length;
        else jobs[key].push(...naming);
        if (page.length < JOB_PAGE) break;
      }
    }
  }
  return { jobs, active };
}

/**
 * What erasing the patient would remove, counted, changing nothing. Throws UnknownPatientError
 * when nothing is held about them, CallInProgressError while a call of theirs is going on.
 */
export async function planErasure({ db, redis, queues, prefix }: ErasureResources, patientId: string): Promise<ErasurePlan> {
  const sessions = await db
    .select({ id: vapiSessions.id, status: vapiSessions.status, lastEventAt: vapiSessions.lastEventAt })
    .from(vapiSessions)
    .where(sessionsOf(patientId));
  const [patient] = await db.select({ id: patients.id }).from(patients).where(eq(patients.id, patientId));
  if (!patient && sessions.length === 0) throw new UnknownPatientError(patientId);
  const live = sessions.find(
    (s) => s.status !== 'ended' && s.status !== 'completed' && s.lastEventAt && Date.now() - s.lastEventAt.getTime() < LIVE_CALL_WINDOW_MS,
  );
  if (live)
    throw new CallInProgressError(
      `call ${live.id} of patient ${patientId} is in progress (its last event came ${Math.round((Date.now() - live.lastEventAt!.getTime()) / 1000)} s ago): erase once it has ended`,
    );

  const sessionIds = sessions.map((s) => s.id);
  const notificationIds = (await db.select({ id: notificationOutbox.id }).from(notificationOutbox).where(notificationsOf(patientId, sessionIds))).map(
    (n) => n.id,
  );
  const rows: Record<string, number> = {};
  for (const [table, where] of patientRows(patientId, sessionIds, notificationIds))
    rows[getTableName(table)] = (await db.select({ n: count() }).from(table).where(where))[0]!.n;
  rows.audit_events = (await db.select({ n: count() }).from(auditEvents).where(auditRowsOf(patientId, sessionIds)))[0]!.n;
  const bindings = [];
  for (const id of sessionIds) if (await redis.exists(callBindingKey(prefix, id))) bindings.push(callBindingKey(prefix, id));
  return { patientId, sessionIds, rows, ...(await jobsNaming(queues, new Set(sessionIds))), bindings };
}

/** `text` with each of the ids replaced by its pseudonym, where it stands as a whole id. */
function pseudonymize(text: string, pseudonyms: Map<string, string>): string {
  let result = text;
  for (const [id, pseudonym] of pseudonyms)
    result = result.replace(new RegExp(`(?<![\\w-])${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`, 'g'), pseudonym);
  return result;
}

/**
 * Erases the patient's health data everywhere it is held: their queued jobs and call bindings in
 * Redis, then in one transaction every row of theirs (their calls and all that hangs off them,
 * their clinic records), their audit rows keeping what happened but naming them by pseudonym, and
 * one audit row saying what was erased (counts, never content). Last, relays are told to close the
 * patient's sockets. Idempotent: run again after a failure, it removes what is left.
 */
export async function erasePatient(resources: ErasureResources, plan: ErasurePlan, source: string) {
  const { db, cipher, redis, prefix } = resources;
  const { patientId, sessionIds } = plan;
  let removedJobs = 0;
  for (const job of Object.values(plan.jobs).flat()) {
    await job.remove();
    removedJobs += 1;
  }
  if (plan.bindings.length > 0) await redis.del(...plan.bindings);

  const pseudonyms = new Map([
    [patientId, auditPseudonym(cipher, 'patient', patientId)],
    ...sessionIds.map((id) => [id, auditPseudonym(cipher, 'session', id)] as [string, string]),
  ]);
  const deleted = await db.transaction(async (tx) => {
    // The calls' rows are locked first: an event of theirs being stored finishes before, or waits and finds nothing.
    const locked = (await tx.select({ id: vapiSessions.id }).from(vapiSessions).where(sessionsOf(patientId)).for('update')).map((s) => s.id);
    const ids = [...new Set([...sessionIds, ...locked])];
    const notificationIds = (await tx.select({ id: notificationOutbox.id }).from(notificationOutbox).where(notificationsOf(patientId, ids))).map((n) => n.id);
    const counts: Record<string, number> = {};
    for (const [table, where] of patientRows(patientId, ids, notificationIds)) counts[getTableName(table)] = (await tx.delete(table).where(where)).count;
    const audited = await tx.select().from(auditEvents).where(auditRowsOf(patientId, ids));
    if (audited.length > 0) {
      const renamed = audited.map((row) => ({
        id: row.id,
        p: row.patientId && (pseudonyms.get(row.patientId) ?? row.patientId),
        s: row.sessionId && (pseudonyms.get(row.sessionId) ?? row.sessionId),
        w: row.what.map((item) => pseudonymize(item, pseudonyms)),
      }));
      await tx.execute(sql`
        update ${auditEvents} set patient_id = v.p, session_id = v.s, what = v.w
        from jsonb_to_recordset(${JSON.stringify(renamed)}::jsonb) as v(id bigint, p text, s text, w jsonb)
        where ${auditEvents.id} = v.id`);
    }
    counts.audit_events = audited.length;
    await recordAudit(tx, {
      actor: 'admin',
      action: 'patient.erase',
      patientId: pseudonyms.get(patientId),
      what: [
        ...Object.entries(counts).map(([table, n]) => (table === 'audit_events' ? `audit_events named by pseudonym (${n})` : `${table} (${n})`)),
        `redis queued jobs (${removedJobs})`,
        `redis call bindings (${plan.bindings.length})`,
      ],
      source,
    });
    return counts;
  });
  // A dispatcher that published just before the transaction may have bound a call again.
  if (sessionIds.length > 0) await redis.del(...sessionIds.map((id) => callBindingKey(prefix, id)));
  await redis.publish(patientChannel(prefix, patientId), sealForPatient(cipher, patientId, patientErasedMessage(patientId)));
  return { rows: deleted, jobs: removedJobs, bindings: plan.bindings.length };
}
