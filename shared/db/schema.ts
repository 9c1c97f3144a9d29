import { sql } from 'drizzle-orm';
import { bigint, bigserial, check, boolean, index, integer, jsonb, numeric, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { SESSION_STATUSES } from '../session-status.ts';
import type { TraceCarrier } from '../tracing.ts';

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
    transcriptSummary: text(), // encrypted: the call's summary (the story's column name)
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
    // The sessions still going, by when they were last written: the reconciler's sweep reads only these.
    index('vapi_sessions_unended_updated_at_index')
      .on(t.updatedAt)
      .where(sql`${t.status} not in ('ended', 'completed')`),
    // Retention: ended sessions by age (services/worker/lib/retention.ts).
    index('vapi_sessions_ended_idx')
      .on(t.endedAt)
      .where(sql`${t.status} in ('ended', 'completed')`),
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
    payload: text(), // encrypted raw event; NULL once retention emptied it (the row stays, and still dedups)
  },
  (t) => [
    index().on(t.sessionId, t.occurredAt),
    index().on(t.type, t.processedAt),
    index('vapi_events_payload_kept_idx')
      .on(t.receivedAt)
      .where(sql`${t.payload} is not null`),
  ],
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
    /** Set once the dispatcher has published the row to the patient's relay channel. */
    dispatchedAt: timestamp({ withTimezone: true }),
    /** The writing transaction's trace context, for the dispatch to join (null with tracing off). */
    traceContext: jsonb().$type<TraceCarrier>(),
  },
  (t) => [
    uniqueIndex().on(t.sessionId, t.seq),
    index('session_events_undispatched_idx')
      .on(t.id)
      .where(sql`${t.dispatchedAt} is null`),
    index('session_events_dispatched_idx')
      .on(t.createdAt)
      .where(sql`${t.dispatchedAt} is not null`),
  ],
);

/**
 * Outbox of outbound notifications (session ended, terminal error), written in the event's
 * transaction; the dispatcher turns each row into one delivery job per configured endpoint.
 */
export const notificationOutbox = pgTable(
  'notification_outbox',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    sessionId: text().notNull(),
    patientId: text(),
    type: text().notNull(), // e.g. session.ended, session.error
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    data: text().notNull(), // encrypted JSON: the notification's `data`
    createdAt: createdAt(),
    dispatchedAt: timestamp({ withTimezone: true }),
    traceContext: jsonb().$type<TraceCarrier>(),
  },
  (t) => [
    index('notification_outbox_undispatched_idx')
      .on(t.id)
      .where(sql`${t.dispatchedAt} is null`),
    index('notification_outbox_dispatched_idx')
      .on(t.createdAt)
      .where(sql`${t.dispatchedAt} is not null`),
    index().on(t.sessionId),
  ],
);

/** Every delivery attempt of a notification to one endpoint: status, latency, error; never the body. */
export const notificationAttempts = pgTable(
  'notification_attempts',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    notificationId: bigint({ mode: 'number' }).notNull(),
    endpoint: text().notNull(),
    attempt: integer().notNull(),
    statusCode: integer(),
    latencyMs: integer().notNull(),
    error: text(),
    outcome: text().notNull(), // delivered, retry, permanent, disabled
    createdAt: createdAt(),
  },
  (t) => [index().on(t.notificationId), index().on(t.endpoint, t.createdAt), index().on(t.createdAt)],
);

/** Endpoints an operator must re-enable (a 410 Gone disables one). */
export const notificationEndpoints = pgTable('notification_endpoints', {
  url: text().primaryKey(),
  disabledAt: timestamp({ withTimezone: true }),
  disabledReason: text(),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
});

/** Every tool call the assistant made: arguments and result encrypted, outcome and timing in clear. */
export const toolCalls = pgTable(
  'tool_calls',
  {
    id: text().primaryKey(), // Vapi's toolCallId, scoped by session: `<sessionId>:<toolCallId>`
    sessionId: text().notNull(),
    toolCallId: text().notNull(),
    name: text().notNull(),
    arguments: text().notNull(), // encrypted JSON
    result: text(), // encrypted: the result or error string given to the assistant
    status: text().notNull(), // succeeded, failed, refused, invalid, unknown_tool, expired
    error: text(), // short reason without health data
    durationMs: integer(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.sessionId, t.createdAt), index().on(t.status, t.createdAt)],
);

/** Clinicians patients can book with. */
export const providers = pgTable('providers', {
  id: text().primaryKey(),
  name: text().notNull(),
  specialty: text().notNull(),
  createdAt: createdAt(),
});

/** Bookable time of a provider. A slot holds at most one active appointment (see `appointments`). */
export const appointmentSlots = pgTable(
  'appointment_slots',
  {
    id: text().primaryKey(),
    providerId: text()
      .notNull()
      .references(() => providers.id, { onDelete: 'cascade' }),
    startsAt: timestamp({ withTimezone: true }).notNull(),
    endsAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.startsAt), index().on(t.providerId, t.startsAt)],
);

/** A patient's booking. The partial unique index makes a double booking impossible, whatever races. */
export const appointments = pgTable(
  'appointments',
  {
    id: text().primaryKey(),
    patientId: text().notNull(),
    slotId: text()
      .notNull()
      .references(() => appointmentSlots.id),
    status: text().notNull().default('booked'), // booked, cancelled
    reason: text(), // encrypted
    sessionId: text(), // the call that booked it
    replacesAppointmentId: text(),
    createdAt: createdAt(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('appointments_one_active_per_slot')
      .on(t.slotId)
      .where(sql`${t.status} = 'booked'`),
    index().on(t.patientId, t.status),
  ],
);

/** Allergies, medications and visits of a patient; the entry itself is encrypted JSON. */
export const healthRecords = pgTable(
  'health_records',
  {
    id: text().primaryKey(),
    patientId: text().notNull(),
    category: text().notNull(), // allergies, medications, visits
    data: text().notNull(), // encrypted JSON
    recordedAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.patientId, t.category, t.recordedAt)],
);

/** Prescription refills and lab orders of a patient. */
export const orders = pgTable(
  'orders',
  {
    id: text().primaryKey(),
    patientId: text().notNull(),
    kind: text().notNull(), // prescription, lab
    description: text().notNull(), // encrypted
    status: text().notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index().on(t.patientId, t.kind, t.updatedAt)],
);

/**
 * Who read or changed health data, shaped like FHIR's AuditEvent: who (`actor`, from `source`),
 * what they did (`action`, `outcome`), about whom (`patient_id`, `session_id`), to which records
 * (`what`: kinds and ids, FHIR's `entity`), when (`at`). Never the data itself. Written through
 * shared/audit.ts only.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
    actor: text().notNull(), // admin, patient, tool, system
    action: text().notNull(), // e.g. dead-letter.show, patient.export (AUDIT_ACTIONS in shared/audit.ts)
    patientId: text(),
    sessionId: text(),
    what: jsonb().$type<string[]>().notNull().default([]), // records by kind and id, never their content
    source: text().notNull(), // the client's IP, `cli`, or the role that read on its own
    outcome: text().notNull(), // success, not-found, failed
  },
  (t) => [
    index().on(t.at),
    index().on(t.patientId, t.at),
    index().on(t.sessionId, t.at),
    check('audit_events_actor_check', sql`${t.actor} in ('admin', 'patient', 'tool', 'system')`),
  ],
);

export const schema = {
  patients,
  vapiSessions,
  vapiMessages,
  vapiEvents,
  sessionEvents,
  notificationOutbox,
  notificationAttempts,
  notificationEndpoints,
  toolCalls,
  providers,
  appointmentSlots,
  appointments,
  healthRecords,
  orders,
  auditEvents,
};

export type SessionRow = typeof vapiSessions.$inferSelect;
