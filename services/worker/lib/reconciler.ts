import type { Queue } from 'bullmq';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '#shared/db/client';
import { isUnreachable } from '#shared/outage';
import type { JobCodec } from '#shared/queues/codec';
import type { JobData } from '#shared/queues/definition';
import { eventsQueue, type EventMeta } from '#shared/queues/events-queue';
import { obj, type JsonObject } from '#shared/vapi/envelope';
import { REPORT_MISSING, type Reconciled } from './event-changes.ts';
import { claimSilentSessions, type SilentSession } from './session-repository.ts';
import type { FetchCall } from './vapi-calls.ts';

/** Reconciliations in flight per worker process (so Vapi API requests), each claimed session taking a place. */
const BATCH = 10;

/**
 * How long a claim keeps other reconcilers off a session: longer than one reconciliation can take
 * (five attempts of 5 s, their backoff, a capped Retry-After). A call Vapi says is still going, or an
 * API that did not answer through all retries, is asked about again once the claim lapses.
 */
const LEASE_S = 300;

/** Vapi's call statuses (`CallStatus`) of a call that is over; `deletion-failed` ended before its deletion was tried. */
const ENDED = new Set<unknown>(['ended', 'deletion-failed']);

/** Longest pause between two sweeps. */
const MAX_SWEEP_MS = 30_000;

export interface ReconcilerDeps {
  db: Database;
  codec: JobCodec;
  events: Queue<JobData<EventMeta>>;
  /** Vapi's `GET /call/{id}`; null without VAPI_API_KEY, when every silent call ends as `report-missing`. */
  fetchCall: FetchCall | null;
  /** RECONCILE_AFTER_S. */
  afterS: number;
  logger: FastifyBaseLogger;
  /** Told what became of each claimed session, for metrics. */
  onOutcome?: (outcome: ReconcileOutcome) => void;
}

/** What became of one claimed session. */
export type ReconcileOutcome = Reconciled | 'still-live' | 'failed';

/** The dedup id of a session's reconciliation: one per session, whichever way it went and however often it was tried. */
export const reconcileEventId = (sessionId: string) => `reconcile.${sessionId}`;

/**
 * The end-of-call report Vapi did not send, built from its `Call` (`GET /call/{id}`): the same fields
 * a real report carries (artifact, analysis, ended reason, times, cost), the call itself (who called,
 * for binding) without the artifact it already holds.
 */
export function reportFromCall(call: JsonObject, at: Date): JsonObject {
  const { artifact, analysis, endedReason, startedAt, endedAt, cost, costs, messages, ...rest } = call;
  return {
    message: {
      type: 'end-of-call-report',
      timestamp: at.getTime(),
      reconciled: 'vapi-api',
      call: rest,
      endedReason,
      startedAt,
      endedAt,
      cost,
      costs,
      // Older calls keep their conversation at the top level; the report reads it from the artifact.
      artifact: { ...obj(artifact), ...(obj(artifact).messages === undefined && messages !== undefined ? { messages } : {}) },
      analysis,
    },
  };
}

/** A report that says only that none came: the session ends as `report-missing`, when it was last heard from. */
export function reportMissing(session: SilentSession, at: Date): JsonObject {
  return {
    message: {
      type: 'end-of-call-report',
      timestamp: at.getTime(),
      reconciled: 'timeout',
      call: { id: session.id },
      endedReason: REPORT_MISSING,
      ...(session.lastEventAt ? { endedAt: session.lastEventAt.toISOString() } : {}),
    },
  };
}

/**
 * Ends calls whose end-of-call report never came (docs/reliability.md, "Calls whose report never
 * came"). A sweep claims silent sessions in small batches (`claimSilentSessions`) and asks Vapi's
 * API about each (a bounded concurrent loop: at most BATCH in flight, a place freed claiming the
 * next; off the events queue's processing path, so a hanging API holds only these places, never an
 * event), and hands what it learnt to the events queue as the report that was missing, under one id
 * per session: the events worker applies it as it applies any report (the one way a session
 * completes), and the event log makes a second reconciliation of the same session a duplicate.
 */
export function createReconciler(deps: ReconcilerDeps) {
  const { db, codec, events, fetchCall, afterS, logger, onOutcome } = deps;

  async function reportFor(session: SilentSession, now: Date): Promise<{ kind: Reconciled; report: JsonObject } | 'still-live'> {
    const missing = { kind: 'timeout' as const, report: reportMissing(session, now) };
    if (!fetchCall) return missing;
    const fetched = await fetchCall(session.id);
    if (!fetched.found || fetched.call.status === 'not-found') return missing;
    // Silent is not over: a call on hold for longer than RECONCILE_AFTER_S is left to go on.
    if (!ENDED.has(fetched.call.status)) return 'still-live';
    return { kind: 'vapi-api', report: reportFromCall(fetched.call, now) };
  }

  async function reconcile(session: SilentSession): Promise<ReconcileOutcome> {
    const now = new Date();
    try {
      const found = await reportFor(session, now);
      if (found === 'still-live') return found;
      const meta: EventMeta = {
        eventId: reconcileEventId(session.id),
        type: 'end-of-call-report',
        callId: session.id,
        source: 'reconcile',
        receivedAt: now.toISOString(),
        requestId: 'reconcile',
      };
      await events.add(meta.type, codec.seal(eventsQueue, meta, JSON.stringify(found.report)), { jobId: meta.eventId });
      return found.kind;
    } catch (error) {
      if (!stopped) logger.warn({ sessionId: session.id, reason: (error as Error).message }, 'reconciling a silent call failed; it is asked about again later');
      return 'failed';
    }
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let filling: Promise<void> | null = null;
  const inFlight = new Set<Promise<void>>();

  function track(session: SilentSession): void {
    const done: Promise<void> = reconcile(session)
      .then((outcome) => onOutcome?.(outcome))
      .finally(() => {
        inFlight.delete(done);
        fill(); // room for one more
      });
    inFlight.add(done);
  }

  /** Claims silent sessions until BATCH are in flight or none is due; one claim pass at a time. */
  function fill(): void {
    if (filling || stopped) return;
    filling = (async () => {
      try {
        while (!stopped && inFlight.size < BATCH) {
          const claimed = await claimSilentSessions(db, { afterS, leaseS: LEASE_S, limit: BATCH - inFlight.size });
          claimed.forEach(track);
          if (claimed.length === 0) break;
        }
      } catch (error) {
        // A server that is down is reported once, at a slow pace, by the outbox and /readyz.
        if (!isUnreachable(error)) logger.warn({ err: error }, 'claiming silent sessions failed; the next sweep tries again');
      } finally {
        filling = null;
      }
    })();
  }

  return {
    /** Sweeps on a timer: as often as half of RECONCILE_AFTER_S, at most every MAX_SWEEP_MS. */
    start() {
      timer = setInterval(fill, Math.min(MAX_SWEEP_MS, (afterS * 1000) / 2));
      timer.unref();
      fill();
    },
    /** Stops claiming and waits for the reconciliations in flight (their requests end with the `signal` fetchCall was given). */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await filling;
      await Promise.all(inFlight);
    },
  };
}

export type Reconciler = ReturnType<typeof createReconciler>;
