import { asc, eq, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import { patients, vapiSessions, type SessionRow } from '#shared/db/schema';
import { anyOf, textArray } from '#shared/db/text-array';
import type { SessionOrigin } from '#shared/vapi/session-origin';
import { bindingFor, rebind, type KnownCaller, type PatientBinding, type SessionCompletion, type SessionState } from './session-state.ts';

/** What a writer reads of the sessions it locks: what their events change, and the last `seq` handed out. */
const LOCKED = {
  id: vapiSessions.id,
  status: vapiSessions.status,
  startedAt: vapiSessions.startedAt,
  endedAt: vapiSessions.endedAt,
  endedReason: vapiSessions.endedReason,
  lastEventAt: vapiSessions.lastEventAt,
  metadata: vapiSessions.metadata,
  patientId: vapiSessions.patientId,
  patientVerified: vapiSessions.patientVerified,
  callerHash: vapiSessions.callerHash,
  lastSeq: vapiSessions.lastSeq,
};

/** A session row as a writer holding its lock reads it. */
export type LockedSession = Pick<SessionRow, keyof typeof LOCKED>;

/**
 * The sessions among `ids` that exist, locked for this transaction in id order: transactions that
 * lock overlapping sets wait for each other in turn, never in a cycle, and concurrent events of
 * one call take turns, so `seq` stays gap-free.
 */
export async function lockSessions(tx: Transaction, ids: string[]): Promise<Map<string, LockedSession>> {
  if (ids.length === 0) return new Map();
  const rows = await tx.select(LOCKED).from(vapiSessions).where(anyOf(vapiSessions.id, ids)).orderBy(asc(vapiSessions.id)).for('update');
  return new Map(rows.map((row) => [row.id, row]));
}

/** Caller numbers as the patients table knows them, in one query: each one's keyed hash and the patients with that phone. */
export async function knownCallers(tx: Transaction, cipher: FieldCipher, numbers: Iterable<string>): Promise<Map<string, KnownCaller>> {
  const distinct = [...new Set(numbers)];
  const callers = new Map<string, KnownCaller>();
  if (distinct.length === 0) return callers;
  const matches = await tx
    .select({ id: patients.id, phoneHash: patients.phoneHash })
    .from(patients)
    .where(
      anyOf(
        patients.phoneHash,
        distinct.flatMap((number) => cipher.lookupHashes(number)),
      ),
    );
  for (const number of distinct) {
    const hashes = new Set(cipher.lookupHashes(number));
    const patientIds = [...new Set(matches.filter((match) => match.phoneHash !== null && hashes.has(match.phoneHash)).map((match) => match.id))];
    callers.set(number, { hash: cipher.lookupHash(number), patientIds });
  }
  return callers;
}

/** A session to create: its id, what its first event says about the call, and the patient bound to it. */
export interface NewSession {
  id: string;
  origin: SessionOrigin;
  binding: PatientBinding;
}

/**
 * Creates sessions, in id order, and returns those created now, locked by their creation; one that
 * another transaction created first is not among them.
 */
export async function createSessions(tx: Transaction, sessions: NewSession[]): Promise<LockedSession[]> {
  if (sessions.length === 0) return [];
  const rows = [...sessions]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(({ id, origin, binding }) => ({
      id,
      ...binding,
      callType: origin.callType ?? null,
      assistantId: origin.assistantId ?? null,
      phoneNumberId: origin.phoneNumberId ?? null,
      metadata: { source: origin.source },
    }));
  return tx.insert(vapiSessions).values(rows).onConflictDoNothing().returning(LOCKED);
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** The columns `updateSessions` writes, in the order of its rows' values. */
const UPDATED = [
  'id',
  'status',
  'started_at',
  'ended_at',
  'ended_reason',
  'last_event_at',
  'metadata',
  'patient_id',
  'patient_verified',
  'caller_hash',
  'transcript_summary',
  'key_insights',
  'analysis',
  'recording_url',
  'cost',
] as const;

/**
 * Writes the new state of every session a batch changed, in one statement. A completion's columns
 * are encrypted here; those it leaves null keep what they held. `last_seq` is not written here: the
 * outbox repository advances it with the rows it numbers.
 */
export async function updateSessions(
  tx: Transaction,
  cipher: FieldCipher,
  updates: { state: SessionState; completion: SessionCompletion | null }[],
): Promise<void> {
  if (updates.length === 0) return;
  const rows = updates.map(({ state, completion }) => [
    state.id,
    state.status,
    iso(state.startedAt),
    iso(state.endedAt),
    state.endedReason,
    iso(state.lastEventAt),
    JSON.stringify(state.metadata),
    state.patientId,
    String(state.patientVerified),
    state.callerHash,
    completion ? cipher.encrypt(completion.summary) : null,
    completion ? JSON.stringify(completion.keyInsights) : null,
    completion?.analysis ? cipher.encryptJson(completion.analysis) : null,
    completion?.recordingUrl ? cipher.encrypt(completion.recordingUrl) : null,
    completion?.cost ?? null,
  ]);
  const columns = sql.join(
    UPDATED.map((_, index) => textArray(rows.map((row) => row[index] ?? null))),
    sql`, `,
  );
  await tx.execute(sql`
    update ${vapiSessions} as s set
      status = v.status,
      started_at = v.started_at::timestamptz,
      ended_at = v.ended_at::timestamptz,
      ended_reason = v.ended_reason,
      last_event_at = v.last_event_at::timestamptz,
      metadata = v.metadata::jsonb,
      patient_id = v.patient_id,
      patient_verified = v.patient_verified::boolean,
      caller_hash = v.caller_hash,
      transcript_summary = coalesce(v.transcript_summary, s.transcript_summary),
      key_insights = coalesce(v.key_insights::jsonb, s.key_insights),
      analysis = coalesce(v.analysis, s.analysis),
      recording_url = coalesce(v.recording_url, s.recording_url),
      cost = coalesce(v.cost::numeric, s.cost),
      updated_at = now()
    from unnest(${columns}) as v(${sql.raw(UPDATED.join(', '))})
    where s.id = v.id`);
}

/**
 * The call's session for a writer that holds one session at a time (the tool runner), locked for
 * its transaction: created (its patient bound) on first sight, and bound by a later writer that
 * brings the identity it lacked.
 */
export async function lockOrCreateSession(tx: Transaction, cipher: FieldCipher, sessionId: string, origin: SessionOrigin): Promise<LockedSession> {
  const [existing] = (await lockSessions(tx, [sessionId])).values();
  const number = origin.identity.callerNumber;
  const needsCallers = number !== undefined && !existing?.patientId && (existing?.callerHash ?? null) === null;
  const callers = needsCallers ? await knownCallers(tx, cipher, [number]) : new Map<string, KnownCaller>();
  if (existing) {
    const bound = rebind(existing, origin.identity, callers);
    if (bound === existing) return existing;
    const binding = { patientId: bound.patientId, patientVerified: bound.patientVerified, callerHash: bound.callerHash };
    const [rebound] = await tx
      .update(vapiSessions)
      .set({ ...binding, updatedAt: sql`now()` })
      .where(eq(vapiSessions.id, sessionId))
      .returning(LOCKED);
    return rebound!;
  }
  const [created] = await createSessions(tx, [{ id: sessionId, origin, binding: bindingFor(origin.identity, callers) }]);
  if (created) return created;
  // Another transaction created it first: wait for it, then hold it.
  const [theirs] = (await lockSessions(tx, [sessionId])).values();
  return theirs!;
}

/** A session the reconciler claimed: silent since `lastEventAt` (null: it never had an event with a time). */
export interface SilentSession {
  id: string;
  lastEventAt: Date | null;
}

/**
 * Claims up to `limit` sessions silent for `afterS` seconds that have not ended (chats never end,
 * and are left alone), in one statement: rows locked by a writer or another reconciler are skipped
 * (`FOR UPDATE SKIP LOCKED`), and each claimed one is marked (`metadata.reconcileClaimedAt`) so no
 * reconciler takes it again for `leaseS` seconds. "Silent" is measured on `updated_at`, written
 * with every event stored, on this database's clock: an old event replayed does not make a session
 * look silent, and Vapi's clock is not compared with ours.
 */
export async function claimSilentSessions(
  db: Database,
  { afterS, leaseS, limit }: { afterS: number; leaseS: number; limit: number },
): Promise<SilentSession[]> {
  const rows = await db.execute<{ id: string; last_event_at: string | null }>(sql`
    with due as (
      select id from ${vapiSessions}
      where status not in ('ended', 'completed')
        and coalesce(metadata->>'source', '') <> 'chat'
        and updated_at < now() - make_interval(secs => ${afterS})
        and (metadata->>'reconcileClaimedAt' is null or (metadata->>'reconcileClaimedAt')::timestamptz < now() - make_interval(secs => ${leaseS}))
      order by updated_at
      limit ${limit}
      for update skip locked
    )
    update ${vapiSessions} as s
      set metadata = s.metadata || jsonb_build_object('reconcileClaimedAt', now())
    from due where s.id = due.id
    returning s.id, s.last_event_at`);
  return rows.map((row) => ({ id: row.id, lastEventAt: row.last_event_at === null ? null : new Date(row.last_event_at) }));
}
