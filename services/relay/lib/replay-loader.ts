import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { REPLAY_PAGE_EVENTS } from './limits.ts';
import { readSessionEvents, type SessionEventsPage } from './session-events.ts';

interface Read {
  /** performance.now() when the query was sent. */
  startedAt: number;
  page: Promise<SessionEventsPage>;
}

/**
 * Reads pages of sessions' stored events for replays and hole fills. The clients of a session that
 * reconnect together ask for the same pages at the same moment: a read in flight is shared by whoever
 * asks for that page meanwhile, and forgotten once it answers (a page read is cheap; a kept one would
 * have to be kept current). A read is shared only with a client whose patient's live events this
 * process was already receiving when the read began, so whatever it misses reaches that client live.
 */
export function createReplayLoader(deps: {
  db: Database;
  cipher: FieldCipher;
  onQuery(): void;
  /** When this relay began receiving a patient's live events (performance.now()), or undefined. */
  watchedSince(patientId: string): number | undefined;
}) {
  const reads = new Map<string, Read>();

  function read(key: string, sessionId: string, afterSeq: number): Promise<SessionEventsPage> {
    deps.onQuery();
    const entry: Read = { startedAt: performance.now(), page: readSessionEvents(deps.db, deps.cipher, sessionId, afterSeq, REPLAY_PAGE_EVENTS) };
    reads.set(key, entry);
    const forget = () => reads.get(key) === entry && reads.delete(key);
    entry.page.then(forget, forget);
    return entry.page;
  }

  return {
    /**
     * The session's owner and its next page of events after `afterSeq`. `atLeastSeq` is a seq known
     * to be stored (a hole fill): a shared last page that ends before it is not enough, and Postgres
     * is asked again.
     */
    async load(sessionId: string, afterSeq: number, requester: string, atLeastSeq = 0): Promise<SessionEventsPage> {
      const key = `${afterSeq}:${sessionId}`;
      const shared = reads.get(key);
      const since = deps.watchedSince(requester);
      if (shared && since !== undefined && since <= shared.startedAt) {
        const page = await shared.page;
        if (page.events.length === REPLAY_PAGE_EVENTS || (page.events.at(-1)?.seq ?? afterSeq) >= atLeastSeq) return page;
      }
      return read(key, sessionId, afterSeq);
    },
  };
}

export type ReplayLoader = ReturnType<typeof createReplayLoader>;
