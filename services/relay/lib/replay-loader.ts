import { and, asc, eq, gt } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import type { RelayEvent, RelayEventType } from '#shared/relay';

/** A session's owner and its stored events with `seq > fromSeq`, in order. */
export interface SessionHistory {
  /** null when the session does not exist or is bound to nobody. */
  patientId: string | null;
  fromSeq: number;
  events: RelayEvent[];
}

interface Entry {
  fromSeq: number;
  /** performance.now() when the read began. */
  startedAt: number;
  history: Promise<SessionHistory>;
  settled?: SessionHistory;
  /** Live events seen while the read runs, merged when it ends. */
  seen: RelayEvent[];
}

const lastSeqOf = (history: SessionHistory) => history.events.at(-1)?.seq ?? history.fromSeq;

/**
 * Reads sessions' stored events for replays and hole fills. A mass reconnect asks for the same
 * session many times at once: concurrent asks share one read, and a read is kept `cacheMs` and
 * extended by the live events the relay sees, so it stays current while it is served. The read
 * says who owns the session; callers check it before sending anything of it.
 */
export function createReplayLoader(deps: {
  db: Database;
  cipher: FieldCipher;
  cacheMs: number;
  onQuery(): void;
  /**
   * When this relay began receiving a patient's live events (performance.now()), or undefined. A
   * read is only kept or shared if the relay saw every event committed after the read began.
   */
  watchedSince(patientId: string): number | undefined;
}) {
  const { db, cipher } = deps;
  const cache = new Map<string, Entry>();

  async function read(sessionId: string, afterSeq: number): Promise<SessionHistory> {
    deps.onQuery();
    const [session] = await db.select({ patientId: vapiSessions.patientId }).from(vapiSessions).where(eq(vapiSessions.id, sessionId));
    if (!session?.patientId) return { patientId: null, fromSeq: afterSeq, events: [] };
    const rows = await db
      .select({ seq: sessionEvents.seq, type: sessionEvents.type, at: sessionEvents.at, data: sessionEvents.data })
      .from(sessionEvents)
      .where(and(eq(sessionEvents.sessionId, sessionId), gt(sessionEvents.seq, afterSeq)))
      .orderBy(asc(sessionEvents.seq));
    const events = rows.map(
      (row): RelayEvent => ({ type: row.type as RelayEventType, sessionId, seq: row.seq, at: row.at.toISOString(), data: cipher.decryptJson(row.data) }),
    );
    return { patientId: session.patientId, fromSeq: afterSeq, events };
  }

  const forget = (sessionId: string, entry: Entry) => cache.get(sessionId) === entry && cache.delete(sessionId);

  function extend(entry: Entry, event: RelayEvent): boolean {
    const last = lastSeqOf(entry.settled!);
    if (event.seq! === last + 1) entry.settled!.events.push(event);
    return event.seq! <= last + 1;
  }

  function fetch(sessionId: string, afterSeq: number): Entry {
    const entry: Entry = { fromSeq: afterSeq, startedAt: performance.now(), history: read(sessionId, afterSeq), seen: [] };
    cache.set(sessionId, entry);
    entry.history.then(
      (history) => {
        entry.settled = { ...history, events: [...history.events] };
        const since = history.patientId ? deps.watchedSince(history.patientId) : undefined;
        const complete = entry.seen.sort((a, b) => a.seq! - b.seq!).every((event) => extend(entry, event));
        entry.seen = [];
        if (since === undefined || since > entry.startedAt || !complete) forget(sessionId, entry);
        else setTimeout(() => forget(sessionId, entry), deps.cacheMs).unref();
      },
      () => forget(sessionId, entry),
    );
    return entry;
  }

  return {
    /**
     * The session's owner and events after `afterSeq`; `atLeastSeq` is a seq known to be stored
     * (a hole fill), so a shared read that ends before it is not enough and Postgres is asked again.
     */
    async load(sessionId: string, afterSeq: number, requester: string, atLeastSeq = 0): Promise<SessionHistory> {
      const cached = cache.get(sessionId);
      const since = deps.watchedSince(requester);
      const usable =
        cached &&
        cached.fromSeq <= afterSeq &&
        since !== undefined &&
        since <= cached.startedAt &&
        (!cached.settled || lastSeqOf(cached.settled) >= atLeastSeq);
      const entry = usable ? cached : fetch(sessionId, afterSeq);
      await entry.history; // its first reaction, registered in fetch(), has set `settled`
      let history = entry.settled!;
      if (entry === cached && lastSeqOf(history) < atLeastSeq) {
        const fresh = fetch(sessionId, afterSeq);
        await fresh.history;
        history = fresh.settled!;
      }
      return { patientId: history.patientId, fromSeq: afterSeq, events: history.events.filter((event) => event.seq! > afterSeq) };
    },
    /** A sequenced live event: extends a cached read it follows, or drops one it skips ahead of. */
    observe(event: RelayEvent): void {
      const entry = cache.get(event.sessionId);
      if (!entry || event.seq === undefined) return;
      if (!entry.settled) entry.seen.push(event);
      else if (!extend(entry, event)) forget(event.sessionId, entry);
    },
  };
}

export type ReplayLoader = ReturnType<typeof createReplayLoader>;
