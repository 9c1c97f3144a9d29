import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '#shared/redis';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { isUnreachable, outageLog } from '#shared/outage';
import type { JobCodec } from '#shared/queues/codec';
import type { JobData } from '#shared/queues/definition';
import { NOTIFICATION_TYPES } from '#shared/notifications';
import {
  notificationJobId,
  notificationsQueue,
  type NotificationBody,
  type NotificationChannel,
  type NotificationMeta,
} from '#shared/queues/notifications-queue';
import { CALL_BINDING_TTL_S } from '#shared/queues/lifetimes';
import { callBindingKey, patientChannel, storedRelayEvent } from '#shared/relay';
import { sealBinding, sealForPatient } from '#shared/relay-messages';
import { startSharedSpans, traceContextFrom, type TraceCarrier } from '#shared/tracing';
import type { JsonObject } from '#shared/vapi/envelope';
import { claimNotifications, claimRelayEvents, markNotificationsDispatched, markRelayEventsDispatched, type OutboxRelayEvent } from './outbox-repository.ts';

/** Rows claimed per transaction; a full batch means there may be more, so the loop goes on at once. */
const BATCH = 500;

/**
 * Age past which the sweep takes a relay event nobody published: younger ones are being published
 * by the worker that committed them (a double publish is harmless, but every row raced is work).
 */
export const RELAY_SETTLE_MS = 2_000;

/** What a transaction committed to the outbox, handed over right after its commit. */
export interface Committed {
  relay: OutboxRelayEvent[];
  /** Notification intents written. */
  notifications: number;
}

export interface DispatcherDeps {
  db: Database;
  /** Fail-fast connection: a Redis outage fails the batch (rows stay undispatched) instead of hanging. */
  redis: RedisClient;
  cipher: FieldCipher;
  codec: JobCodec;
  notifications: Queue<JobData<NotificationMeta>>;
  /** NOTIFY_WEBHOOK_URL entries. */
  endpoints: readonly string[];
  /** FHIR_BASE_URL, when set: where each completed call also goes as a FHIR transaction. */
  fhirBaseUrl?: string;
  prefix: string;
  logger: FastifyBaseLogger;
  /** RELAY_SETTLE_MS unless a test says otherwise. */
  relaySettleMs?: number;
}

/**
 * Moves committed outbox rows out of Postgres (written in the event's own transaction, so nothing is
 * lost to a crash): relay events to the patient's pub/sub channel (refreshing the call → patient
 * binding the live lane reads), notification intents to one delivery job per endpoint. Relay events
 * leave as soon as they commit, published from memory by `handOff` and then marked; the sweep takes
 * whatever a crash or an outage left, and every notification. Rows are claimed with `FOR UPDATE SKIP
 * LOCKED`, so any number of dispatchers work side by side, and marked only after Redis took them: a
 * crash in between publishes a row twice (relays drop a `seq` they have seen), never zero times.
 */
export function createOutboxDispatcher(deps: DispatcherDeps) {
  const { db, redis, cipher, codec, prefix } = deps;
  const settleMs = deps.relaySettleMs ?? RELAY_SETTLE_MS;

  /** Dispatch spans for outbox rows, each in the trace its row was written in (tracing on). */
  const dispatchSpans = (rows: { sessionId: string; trace?: TraceCarrier | null | undefined }[]) =>
    startSharedSpans(
      'outbox.dispatch',
      rows.map((row) => ({ parent: traceContextFrom(row.trace), attributes: { 'vapi_relay.session_id': row.sessionId } })),
    );

  /**
   * Publishes relay events to their patients' channels, refreshing each call's binding, in one
   * pipeline; each message carries its dispatch span, for the relay's send to join.
   */
  async function publish(events: OutboxRelayEvent[]): Promise<void> {
    const pipeline = redis.pipeline();
    const bound = new Set<string>();
    const published = events.filter((row) => row.patientId); // nobody to show the others to yet
    const spans = dispatchSpans(published);
    published.forEach((row, index) => {
      const patientId = row.patientId!;
      const event = storedRelayEvent(row);
      if (!bound.has(row.sessionId)) {
        bound.add(row.sessionId);
        pipeline.set(callBindingKey(prefix, row.sessionId), sealBinding(cipher, row.sessionId, patientId), 'EX', CALL_BINDING_TTL_S);
      }
      pipeline.publish(patientChannel(prefix, patientId), sealForPatient(cipher, patientId, event, spans?.carriers[index]));
    });
    if (pipeline.length === 0) return;
    try {
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('Redis did not run the publish pipeline');
      spans?.end();
    } catch (error) {
      spans?.end(error);
      throw error;
    }
  }

  async function dispatchRelayEvents(): Promise<number> {
    return db.transaction(async (tx) => {
      const rows = await claimRelayEvents(tx, BATCH, settleMs);
      if (rows.length === 0) return 0;
      // A session nobody is bound to yet has no channel: its rows are marked unread, and a later subscriber replays them from Postgres.
      await publish(rows.flatMap((row) => (row.patientId ? [{ ...row, data: cipher.decryptJson<JsonObject>(row.data) }] : [])));
      await markRelayEventsDispatched(
        tx,
        rows.map((row) => row.id),
      );
      return rows.length;
    });
  }

  async function dispatchNotifications(): Promise<number> {
    return db.transaction(async (tx) => {
      const rows = await claimNotifications(tx, BATCH);
      if (rows.length === 0) return 0;
      const spans = dispatchSpans(rows.map((row) => ({ sessionId: row.sessionId, trace: row.traceContext })));
      const jobs = rows.flatMap((row, index) => {
        // Each delivery job joins its own notification's trace (BullMQ reads the context from here).
        const carrier = spans?.carriers[index];
        const body: NotificationBody = {
          type: row.type,
          sessionId: row.sessionId,
          patientId: row.patientId,
          timestamp: row.occurredAt.toISOString(),
          data: cipher.decryptJson(row.data),
        };
        const targets: { endpoint: string; channel?: NotificationChannel }[] = [
          ...deps.endpoints.map((endpoint) => ({ endpoint })),
          // A completed call also becomes a FHIR transaction.
          ...(deps.fhirBaseUrl && row.type === NOTIFICATION_TYPES.ended ? [{ endpoint: deps.fhirBaseUrl, channel: 'fhir' as const }] : []),
        ];
        return targets.map(({ endpoint, channel }) => ({
          name: row.type,
          data: codec.seal(
            notificationsQueue,
            { notificationId: row.id, type: row.type, sessionId: row.sessionId, endpoint, ...(channel ? { channel } : {}) },
            body,
          ),
          opts: {
            ...notificationsQueue.options,
            jobId: notificationJobId(row.id, endpoint, channel),
            ...(carrier ? { telemetry: { metadata: JSON.stringify(carrier) } } : {}),
          },
        }));
      });
      try {
        if (jobs.length > 0) await deps.notifications.addBulk(jobs);
        await markNotificationsDispatched(
          tx,
          rows.map((row) => row.id),
        );
        spans?.end();
      } catch (error) {
        spans?.end(error);
        throw error;
      }
      return rows.length;
    });
  }

  /** One pass over both outboxes; returns how many rows it moved. */
  async function dispatchOnce(): Promise<number> {
    const [relayed, notified] = await Promise.all([dispatchRelayEvents(), dispatchNotifications()]);
    return relayed + notified;
  }

  // Postgres or Redis away fails every sweep the same way: one line every so often, not a stack per sweep.
  const unreachable = outageLog(
    'the outbox (Postgres at DATABASE_URL, or Redis)',
    'rows stay until it answers: start it, or point DATABASE_URL / REDIS_URL at it',
  );
  let running = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let idle: Promise<void> = Promise.resolve();
  const publishing = new Set<Promise<void>>();

  async function loop() {
    do {
      again = false;
      try {
        if ((await dispatchOnce()) >= BATCH) again = true;
        unreachable.reachable(deps.logger);
      } catch (error) {
        if (isUnreachable(error)) unreachable.unreachable(error as Error, deps.logger);
        else deps.logger.warn({ err: error }, 'outbox dispatch failed; the rows stay for the next sweep');
      }
    } while (again && !stopped);
    running = false;
  }

  /** Dispatches now (after a commit); calls during a pass make one more pass, never a pile of them. */
  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    idle = loop();
  }

  /**
   * Takes what a transaction just committed: its relay events are published from memory and marked
   * (no claiming round trips), its notification intents go out with a dispatch pass.
   */
  function handOff(committed: Committed): void {
    if (committed.notifications > 0) kick();
    if (committed.relay.length === 0 || stopped) return;
    const done: Promise<void> = publish(committed.relay)
      .then(() =>
        markRelayEventsDispatched(
          db,
          committed.relay.map((event) => event.id),
        ),
      )
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'publishing committed relay events failed; the sweep sends them'))
      .finally(() => publishing.delete(done));
    publishing.add(done);
  }

  return {
    kick,
    handOff,
    dispatchOnce,
    /** Sweeps on a timer too, so rows left by a crash or an outage go out without a new event. */
    start(sweepMs: number) {
      timer = setInterval(kick, sweepMs);
      timer.unref();
      kick();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([idle, ...publishing]);
    },
  };
}

export type OutboxDispatcher = ReturnType<typeof createOutboxDispatcher>;
