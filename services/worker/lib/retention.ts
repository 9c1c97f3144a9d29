import type { FastifyBaseLogger } from 'fastify';
import { sql, type SQL } from 'drizzle-orm';
import { recordAudit } from '#shared/audit';
import type { Database } from '#shared/db/client';
import { textArray } from '#shared/db/text-array';
import { isUnreachable } from '#shared/outage';

/** The RETENTION_* variables: days, decimals allowed, 0 keeps forever. */
export interface RetentionPeriods {
  eventPayloadDays: number;
  deliveryDays: number;
  sessionDays: number;
}

/** What a sweep removes, by the name its metrics and audit row give it. */
export const RETENTION_TABLES = [
  'vapi_events.payload',
  'session_events',
  'notification_outbox',
  'notification_attempts',
  'vapi_messages',
  'tool_calls',
  'vapi_events',
  'vapi_sessions',
] as const;
export type RetentionTable = (typeof RETENTION_TABLES)[number];

/** Rows one statement deletes at most: each batch is its own short transaction, its locks held for milliseconds. */
export const RETENTION_BATCH = 500;
/** Expired sessions taken at a time: their rows go in batches, then the sessions themselves. */
const SESSION_CHUNK = 100;
/**
 * Tables whose rows belong to a session by `session_id`, in the order they are deleted (delivery
 * attempts, found through their outbox rows, go first). `vapi_messages` and `session_events` would
 * go with the session by cascade, but in one unbounded statement.
 */
const HANGING_OFF_SESSIONS = ['notification_outbox', 'tool_calls', 'vapi_events', 'session_events', 'vapi_messages'] as const;

export interface RetentionDeps {
  db: Database;
  periods: RetentionPeriods;
  logger: FastifyBaseLogger;
  /** RETENTION_BATCH unless a test says otherwise. */
  batchSize?: number;
  /** Told after each batch: the metrics count there. */
  onDeleted?: (table: RetentionTable, rows: number) => void;
}

const ENDED = sql.raw(`('ended', 'completed')`);
const before = (days: number) => sql`now() - ${days} * interval '1 day'`;
/** The row's session is not going on (or the row has none): a session in progress is never touched. */
const settled = (sessionId: SQL) => sql`not exists (select 1 from vapi_sessions s where s.id = ${sessionId} and s.status not in ${ENDED})`;

/**
 * Deletes what outlived its period (docs/storage.md, "Retention"):
 * raw webhook payloads, dispatched outbox rows and delivery attempts, and, when
 * RETENTION_SESSION_DAYS is set, ended sessions with everything that hangs off them. Every
 * statement takes at most a batch of rows, and only rows nobody holds (`FOR UPDATE SKIP LOCKED`),
 * in a transaction of its own: a sweep never waits for the event lane nor holds it up, and any
 * number of workers sweep side by side. A row of a session in progress is never touched.
 */
export function createRetentionSweeper(deps: RetentionDeps) {
  const { db, periods } = deps;
  const batch = deps.batchSize ?? RETENTION_BATCH;
  /** Set on close: a sweep under way stops after its current batch. */
  let stopped = false;

  /** Rows removed by the sweep under way, by table. */
  type Removed = Partial<Record<RetentionTable, number>>;

  /** Runs `statement` (which touches at most a batch) until it touches less than a batch; returns the rows touched. */
  async function drain(removed: Removed, table: RetentionTable, statement: () => SQL): Promise<number> {
    let total = 0;
    for (;;) {
      const { count } = await db.execute(statement());
      if (count > 0) {
        deps.onDeleted?.(table, count);
        removed[table] = (removed[table] ?? 0) + count;
      }
      total += count;
      if (count < batch || stopped) return total;
    }
  }

  /**
   * Raw payloads go, their rows stay: the row is the event log's record that the event was applied
   * (a redelivery of its id still does nothing) and names no health data; it goes with its session.
   */
  const payloads = (removed: Removed, days: number) =>
    drain(
      removed,
      'vapi_events.payload',
      () => sql`
      update vapi_events set payload = null where id in (
        select e.id from vapi_events e
        where e.payload is not null and e.received_at < ${before(days)} and ${settled(sql`e.session_id`)}
        order by e.received_at limit ${batch} for update skip locked)`,
    );

  /** Dispatched rows of an outbox table (`session_events` or `notification_outbox`). */
  const dispatched = (removed: Removed, table: 'session_events' | 'notification_outbox', days: number) =>
    drain(
      removed,
      table,
      () => sql`
      delete from ${sql.identifier(table)} where id in (
        select o.id from ${sql.identifier(table)} o
        where o.dispatched_at is not null and o.created_at < ${before(days)} and ${settled(sql`o.session_id`)}
        order by o.created_at limit ${batch} for update skip locked)`,
    );

  const attempts = (removed: Removed, days: number) =>
    drain(
      removed,
      'notification_attempts',
      () => sql`
      delete from notification_attempts where id in (
        select a.id from notification_attempts a
        where a.created_at < ${before(days)}
          and not exists (select 1 from notification_outbox o join vapi_sessions s on s.id = o.session_id where o.id = a.notification_id and s.status not in ${ENDED})
        order by a.created_at limit ${batch} for update skip locked)`,
    );

  /** Rows of `table` belonging to the sessions `ids`, a batch at a time. */
  const sessionRows = (removed: Removed, table: (typeof HANGING_OFF_SESSIONS)[number], ids: string[]) =>
    drain(
      removed,
      table,
      () => sql`
      delete from ${sql.identifier(table)} where id in (
        select r.id from ${sql.identifier(table)} r where r.session_id = any(${textArray(ids)})
        limit ${batch} for update skip locked)`,
    );

  /**
   * Ended sessions older than the period, a chunk at a time: first what hangs off them (each table
   * in batches), then the sessions, each re-checked and locked so one an event is being stored for
   * right now is left for the next sweep.
   */
  async function sessions(removed: Removed, days: number): Promise<void> {
    for (;;) {
      const expired = await db.execute<{ id: string }>(sql`
        select id from vapi_sessions where status in ${ENDED} and ended_at < ${before(days)} order by ended_at limit ${SESSION_CHUNK}`);
      const ids = expired.map((row) => row.id);
      if (ids.length === 0) return;
      await drain(
        removed,
        'notification_attempts',
        () => sql`
        delete from notification_attempts where id in (
          select a.id from notification_attempts a join notification_outbox o on o.id = a.notification_id
          where o.session_id = any(${textArray(ids)})
          limit ${batch} for update of a skip locked)`,
      );
      for (const table of HANGING_OFF_SESSIONS) await sessionRows(removed, table, ids);
      const deleted = await drain(
        removed,
        'vapi_sessions',
        () => sql`
        delete from vapi_sessions where id in (
          select id from vapi_sessions where id = any(${textArray(ids)}) and status in ${ENDED} and ended_at < ${before(days)}
          limit ${batch} for update skip locked)`,
      );
      // Sessions locked by the event lane stay for the next sweep; going on would take them again at once.
      if (ids.length < SESSION_CHUNK || deleted < ids.length || stopped) return;
    }
  }

  /** One pass over every period that is set; returns the rows it removed, by table. */
  async function sweepOnce(): Promise<Removed> {
    const removed: Removed = {};
    if (periods.sessionDays > 0) await sessions(removed, periods.sessionDays);
    if (periods.eventPayloadDays > 0) await payloads(removed, periods.eventPayloadDays);
    if (periods.deliveryDays > 0) {
      await dispatched(removed, 'session_events', periods.deliveryDays);
      await dispatched(removed, 'notification_outbox', periods.deliveryDays);
      await attempts(removed, periods.deliveryDays);
    }
    const what = RETENTION_TABLES.flatMap((table) => (removed[table] ? [`${table} (${removed[table]})`] : []));
    if (what.length > 0) await recordAudit(db, { actor: 'system', action: 'retention.delete', what, source: 'worker' });
    return removed;
  }

  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  /** Sweeps now unless a sweep is running (a slow sweep is not piled upon). */
  function kick(): void {
    if (stopped || running) return;
    running = sweepOnce()
      .then(() => undefined)
      .catch((error: unknown) => {
        // A server that is down is reported once, at a slow pace, by the outbox and /readyz.
        if (!isUnreachable(error)) deps.logger.warn({ err: error }, 'retention sweep failed; the next sweep goes on from there');
      })
      .finally(() => (running = undefined));
  }

  return {
    sweepOnce,
    /** Sweeps every `intervalMs`, and once now. */
    start(intervalMs: number) {
      timer = setInterval(kick, intervalMs);
      timer.unref();
      kick();
    },
    /** Stops sweeping; resolves once a sweep under way has finished its batch. */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

export type RetentionSweeper = ReturnType<typeof createRetentionSweeper>;
