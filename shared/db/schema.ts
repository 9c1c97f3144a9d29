import { sql } from 'drizzle-orm';
import {
  bigserial,
  check,
  boolean,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { SESSION_STATUSES } from '../session-status';

// The story's table and column names are kept. Every column commented "encrypted" holds
// FieldCipher output (`v1.<keyId>.<…>`), never plain text.

const createdAt = () => timestamp({ withTimezone: true }).notNull().defaultNow();

/** Patients of the clinic. Personal details are encrypted; look-ups go through keyed hashes. */
export const patients = pgTable(
  'patients',
  {
    id: text().primaryKey(),
    firstName: text().notNull(), // encrypted
    lastName: text().notNull(), // encrypted
    dateOfBirth: text().notNull(), // encrypted, YYYY-MM-DD
    phoneNumber: text(), // encrypted, E.164
    phoneHash: text(), // keyed hash of the E.164 number
    nameDobHash: text().notNull(), // keyed hash of "lower(full name)|YYYY-MM-DD"
    createdAt: createdAt(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index().on(t.phoneHash), index().on(t.nameDobHash)],
);

/** One row per call; `id` is Vapi's `call.id`. */
export const vapiSessions = pgTable(
  'vapi_sessions',
  {
    id: text().primaryKey(),
    /**
     * Our app's patient id from `call.metadata.patientId` (trusted as is: the app set it for a
     * logged-in patient, whose record may live elsewhere), else the `patients` row matching the
     * caller's number. No foreign key, for that reason.
     */
    patientId: text(),
    /** True when the call carried our app's patient id, or the caller passed identity checks. */
    patientVerified: boolean().notNull().default(false),
    status: text().notNull().default('queued'),
    callType: text(),
    assistantId: text(),
    phoneNumberId: text(),
    callerHash: text(), // keyed hash of the caller's number
    endedReason: text(),
    startedAt: timestamp({ withTimezone: true }),
    endedAt: timestamp({ withTimezone: true }),
    summary: text(), // encrypted
    keyInsights: jsonb().$type<Record<string, unknown>>(),
    analysis: text(), // encrypted JSON of Vapi's analysis
    recordingUrl: text(), // encrypted
    cost: numeric({ precision: 12, scale: 4 }),
    metadata: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    /** Last `seq` handed to a relay event of this session; the row lock makes it gap-free. */
    lastSeq: integer().notNull().default(0),
    lastEventAt: timestamp({ withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index().on(t.patientId, t.createdAt),
    index().on(t.callerHash),
    check('vapi_sessions_status_check', sql`${t.status} in (${sql.raw(SESSION_STATUSES.map((s) => `'${s}'`).join(', '))})`),
  ],
);

/** One row per final transcript utterance (and per story `message` event). */
export const vapiMessages = pgTable(
  'vapi_messages',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => vapiSessions.id, { onDelete: 'cascade' }),
    eventId: text().notNull(),
    role: text().notNull(),
    transcript: text().notNull(), // encrypted
    timestamp: timestamp({ withTimezone: true }).notNull(),
    metadata: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex().on(t.eventId),
    index().on(t.sessionId, t.timestamp),
    check('vapi_messages_role_check', sql`${t.role} in ('user', 'assistant', 'system')`),
  ],
);

/** Every event taken in, keyed by its dedup id: the record that makes processing exactly-once. */
export const vapiEvents = pgTable(
  'vapi_events',
  {
    id: text().primaryKey(),
    sessionId: text(),
    type: text().notNull(),
    occurredAt: timestamp({ withTimezone: true }),
    receivedAt: timestamp({ withTimezone: true }).notNull(),
    processedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    payload: text().notNull(), // encrypted raw event
  },
  (t) => [index().on(t.sessionId, t.occurredAt), index().on(t.type, t.processedAt)],
);

/** Outbox of relay events: per-session `seq` from 1 without holes, replayed to reconnecting apps. */
export const sessionEvents = pgTable(
  'session_events',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    sessionId: text()
      .notNull()
      .references(() => vapiSessions.id, { onDelete: 'cascade' }),
    seq: integer().notNull(),
    type: text().notNull(),
    at: timestamp({ withTimezone: true }).notNull(),
    data: text().notNull(), // encrypted JSON
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex().on(t.sessionId, t.seq)],
);

export const schema = { patients, vapiSessions, vapiMessages, vapiEvents, sessionEvents };

export type SessionRow = typeof vapiSessions.$inferSelect;
