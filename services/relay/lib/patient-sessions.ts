import { and, asc, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { toolCalls, vapiMessages, vapiSessions, type SessionRow as StoredSession } from '#shared/db/schema';
import { openCursor, sealCursor, type Keyset } from './history-cursor.ts';
import type { RelayGrant } from '#shared/relay-token';
import { readSessionEvents, type SessionEventsPage } from './session-events.ts';

/** A session as the patient's app lists it (docs/relay.md, "History API"). */
export interface SessionView {
  id: string;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  endedReason: string | null;
  /** Decrypted; null until the call completes. */
  summary: string | null;
  durationSeconds: number | null;
  lastSeq: number;
}

/** One session in full: its list entry, the turns each side spoke and the tools the assistant called. */
export interface SessionDetail extends SessionView {
  turns: { user: number; assistant: number };
  toolsUsed: string[];
}

export interface MessageView {
  role: string;
  transcript: string;
  timestamp: string;
}

/** A page of a list, and the cursor of the next one (null after the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

/**
 * Longest session id looked up: Vapi's call ids are UUIDs, and the socket's subscribe takes at most
 * 200 characters. A longer one, or one Postgres cannot hold as text (a NUL), names no session: it is
 * answered as a session that does not exist, never sent to Postgres.
 */
const MAX_SESSION_ID = 200;
export const couldExist = (sessionId: string) => sessionId.length > 0 && sessionId.length <= MAX_SESSION_ID && !sessionId.includes('\0');

/** The sessions a grant may see: its patient's, and with `sid` that one only. */
const visibleTo = (grant: RelayGrant): SQL =>
  and(eq(vapiSessions.patientId, grant.patientId), grant.sessionId === undefined ? undefined : eq(vapiSessions.id, grant.sessionId))!;

/** When a session began: Vapi's start time once known, else when its first event arrived. */
const sessionTime = sql`coalesce(${vapiSessions.startedAt}, ${vapiSessions.createdAt})`;

/** A timestamp as the text of a keyset: UTC, to the microsecond Postgres keeps. */
const keysetText = (time: SQL | typeof vapiMessages.timestamp) => sql<string>`to_char(${time} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const SESSION_COLUMNS = {
  id: vapiSessions.id,
  status: vapiSessions.status,
  startedAt: vapiSessions.startedAt,
  endedAt: vapiSessions.endedAt,
  endedReason: vapiSessions.endedReason,
  summary: vapiSessions.transcriptSummary,
  keyInsights: vapiSessions.keyInsights,
  lastSeq: vapiSessions.lastSeq,
};

type SessionRow = Pick<StoredSession, 'id' | 'status' | 'startedAt' | 'endedAt' | 'endedReason' | 'keyInsights' | 'lastSeq'> & { summary: string | null };

/**
 * The call's length: as its summary gave it once completed (Vapi's own figure when start or end was
 * missing), else measured from the times known so far, in tenths of a second like the summary.
 */
function durationOf(row: SessionRow): number | null {
  const summarised = row.keyInsights?.durationSeconds;
  if (typeof summarised === 'number') return summarised;
  if (!row.startedAt || !row.endedAt) return null;
  return Math.round(Math.max(0, row.endedAt.getTime() - row.startedAt.getTime()) / 100) / 10;
}

const viewOf = (cipher: FieldCipher, row: SessionRow): SessionView => ({
  id: row.id,
  status: row.status,
  startedAt: row.startedAt?.toISOString() ?? null,
  endedAt: row.endedAt?.toISOString() ?? null,
  endedReason: row.endedReason,
  summary: row.summary === null ? null : cipher.decrypt(row.summary),
  durationSeconds: durationOf(row),
  lastSeq: row.lastSeq,
});

/** What scopes a list's cursor: a cursor of one patient's list (or one session's messages) pages nothing else. */
const sessionsScope = (grant: RelayGrant) => `sessions:${grant.patientId}:${grant.sessionId ?? ''}`;
const messagesScope = (sessionId: string) => `messages:${sessionId}`;

/** The page and the next cursor, from `limit + 1` rows read: the extra row only says that more follow. */
function pageOf<Row, T>(rows: Row[], limit: number, view: (row: Row) => T, keyset: (row: Row) => Keyset, seal: (keyset: Keyset) => string): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(view), nextCursor: rows.length > limit && last !== undefined ? seal(keyset(last)) : null };
}

/**
 * The grant's sessions, newest first, a keyset page at a time: ordered by (start time, id) so two
 * sessions that began in the same microsecond still come once each, in the same order on every page.
 */
export async function listSessions(db: Database, cipher: FieldCipher, grant: RelayGrant, page: PageRequest): Promise<Page<SessionView>> {
  const scope = sessionsScope(grant);
  const after = page.cursor === undefined ? undefined : openCursor(cipher, scope, page.cursor);
  const rows = await db
    .select({ ...SESSION_COLUMNS, at: keysetText(sessionTime) })
    .from(vapiSessions)
    .where(and(visibleTo(grant), after && sql`(${sessionTime}, ${vapiSessions.id}) < (${after.at}::timestamptz, ${after.id})`))
    .orderBy(desc(sessionTime), desc(vapiSessions.id))
    .limit(page.limit + 1);
  return pageOf(
    rows,
    page.limit,
    (row) => viewOf(cipher, row),
    (row) => ({ at: row.at, id: row.id }),
    (keyset) => sealCursor(cipher, scope, keyset),
  );
}

/** One of the grant's sessions in full, or null when it may not see it (or it does not exist: the same answer). */
export async function readSession(db: Database, cipher: FieldCipher, grant: RelayGrant, sessionId: string): Promise<SessionDetail | null> {
  if (!couldExist(sessionId)) return null;
  const [row] = await db
    .select(SESSION_COLUMNS)
    .from(vapiSessions)
    .where(and(eq(vapiSessions.id, sessionId), visibleTo(grant)));
  if (!row) return null;
  const [spoken, tools] = await Promise.all([
    db.select({ role: vapiMessages.role, n: count() }).from(vapiMessages).where(eq(vapiMessages.sessionId, sessionId)).groupBy(vapiMessages.role),
    db
      .select({ name: toolCalls.name })
      .from(toolCalls)
      .where(eq(toolCalls.sessionId, sessionId))
      .groupBy(toolCalls.name)
      .orderBy(sql`min(${toolCalls.createdAt})`),
  ]);
  const said = (role: string) => spoken.find((entry) => entry.role === role)?.n ?? 0;
  const used = tools.map((tool) => tool.name);
  // Once completed, the summary's own figures (from Vapi's artifact), so the detail never contradicts the summary text.
  const summarised = row.keyInsights as { turns?: { user?: unknown; assistant?: unknown }; toolsUsed?: unknown } | null;
  const turns = summarised?.turns;
  return {
    ...viewOf(cipher, row),
    turns:
      typeof turns?.user === 'number' && typeof turns.assistant === 'number'
        ? { user: turns.user, assistant: turns.assistant }
        : { user: said('user'), assistant: said('assistant') },
    toolsUsed: Array.isArray(summarised?.toolsUsed) && used.length === 0 ? (summarised.toolsUsed as string[]) : used,
  };
}

/**
 * A page of one of the grant's sessions' final transcript, in the order it was spoken (its
 * timestamps, whatever order the utterances were stored in), or null when it may not see the session.
 * The session and the page are read in one statement, the page by the `(session_id, timestamp)` index.
 */
export async function readMessages(
  db: Database,
  cipher: FieldCipher,
  grant: RelayGrant,
  sessionId: string,
  page: PageRequest,
): Promise<Page<MessageView> | null> {
  if (!couldExist(sessionId)) return null;
  const scope = messagesScope(sessionId);
  const after = page.cursor === undefined ? undefined : openCursor(cipher, scope, page.cursor);
  const messages = db
    .select({
      id: vapiMessages.id,
      role: vapiMessages.role,
      transcript: vapiMessages.transcript,
      timestamp: vapiMessages.timestamp,
      at: keysetText(vapiMessages.timestamp).as('at'),
    })
    .from(vapiMessages)
    .where(
      and(
        eq(vapiMessages.sessionId, vapiSessions.id),
        after && sql`(${vapiMessages.timestamp}, ${vapiMessages.id}) > (${after.at}::timestamptz, ${after.id}::bigint)`,
      ),
    )
    .orderBy(asc(vapiMessages.timestamp), asc(vapiMessages.id))
    .limit(page.limit + 1)
    .as('page');
  const rows = await db
    .select({ message: { id: messages.id, role: messages.role, transcript: messages.transcript, timestamp: messages.timestamp, at: messages.at } })
    .from(vapiSessions)
    .leftJoinLateral(messages, sql`true`)
    .where(and(eq(vapiSessions.id, sessionId), visibleTo(grant)))
    .orderBy(asc(messages.timestamp), asc(messages.id));
  if (rows.length === 0) return null;
  const stored = rows.flatMap(({ message }) => (message ? [message] : []));
  return pageOf(
    stored,
    page.limit,
    (message) => ({ role: message.role, transcript: cipher.decrypt(message.transcript), timestamp: message.timestamp.toISOString() }),
    (message) => ({ at: message.at, id: String(message.id) }),
    (keyset) => sealCursor(cipher, scope, keyset),
  );
}

/**
 * A page of one of the grant's sessions' relay events after `afterSeq`, and its last `seq`, read by
 * the socket's own replay reader so the two cannot differ; null when the grant may not see it.
 */
export async function readEvents(
  db: Database,
  cipher: FieldCipher,
  grant: RelayGrant,
  sessionId: string,
  afterSeq: number,
  limit: number,
): Promise<Pick<SessionEventsPage, 'events' | 'lastSeq'> | null> {
  if (!couldExist(sessionId) || (grant.sessionId !== undefined && grant.sessionId !== sessionId)) return null;
  const page = await readSessionEvents(db, cipher, sessionId, afterSeq, limit, grant.patientId);
  return page.patientId === null ? null : { events: page.events, lastSeq: page.lastSeq };
}
