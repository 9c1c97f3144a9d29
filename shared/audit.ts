import type { FieldCipher } from './crypto.ts';
import type { Database } from './db/client.ts';
import { auditEvents } from './db/schema.ts';

/** Who read or changed health data (FHIR AuditEvent's agent): an operator, the patient's app, a tool the assistant called, or the system itself. */
export const AUDIT_ACTORS = ['admin', 'patient', 'tool', 'system'] as const;
export type AuditActor = (typeof AUDIT_ACTORS)[number];

/** Every action recorded, declared once with what it means; a writer names one of these. */
export const AUDIT_ACTIONS = {
  'dead-letter.show': "an operator opened a dead letter's payload",
  'dead-letter.replay': 'an operator put dead letters back in their queue',
  'dead-letter.purge': 'an operator removed dead letters',
  'endpoint.enable': 'an operator re-enabled a notification endpoint',
  'history.read': "the patient's app read sessions, transcripts or events (relay history API)",
  'tool.read': "a tool gave the assistant the patient's health records or orders",
  'patient.export': 'everything held about a patient was exported (npm run patient -- export)',
  'patient.erase': "a patient's health data was erased (npm run patient -- erase)",
  'retention.delete': 'the retention sweep deleted what outlived its period',
  'keys.rewrap': 'stored values were decrypted and encrypted again under the first key (npm run keys:rewrap)',
  'fhir.export': "a completed call was read and sent to the clinic's FHIR server (FHIR_BASE_URL)",
} as const;
export type AuditAction = keyof typeof AUDIT_ACTIONS;

/** How it ended, in FHIR's terms: done, nothing found to act on, or failed part-way. */
export const AUDIT_OUTCOMES = ['success', 'not-found', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** One audit row to write. Nothing in it may be health data: records are named by kind and id. */
export interface AuditEntry {
  actor: AuditActor;
  action: AuditAction;
  patientId?: string | null | undefined;
  sessionId?: string | null | undefined;
  /** The records read or changed, by kind and id or count (`dead letter events/<id>`, `health_records: allergies (3)`), never their content. */
  what: readonly string[];
  /** The client's IP for a request, `cli` for a command, the role's name for what a service did on its own. */
  source: string;
  /** `success` unless said otherwise. */
  outcome?: AuditOutcome;
}

export type AuditRow = typeof auditEvents.$inferSelect;

/**
 * Records one read or change of health data: the one way to write `audit_events`. Inside a
 * transaction (pass it as `db`) the row commits or rolls back with the work it describes. Returns
 * the row, for a writer that also reports it elsewhere (the AuditEvent a FHIR export carries).
 */
export async function recordAudit(db: Pick<Database, 'insert'>, entry: AuditEntry): Promise<AuditRow> {
  const [row] = await db
    .insert(auditEvents)
    .values({
      actor: entry.actor,
      action: entry.action,
      patientId: entry.patientId ?? null,
      sessionId: entry.sessionId ?? null,
      what: [...entry.what],
      source: entry.source,
      outcome: entry.outcome ?? 'success',
    })
    .returning();
  return row!;
}

/**
 * What an erased patient's (or session's) id becomes in the audit log: a keyed hash, so their
 * audit rows keep telling who read what and when, and can still be found by whoever holds the key
 * and the id, while no row holds the id itself.
 */
export const auditPseudonym = (cipher: FieldCipher, kind: 'patient' | 'session', id: string): string => `erased:${cipher.lookupHash(`${kind}:${id}`)}`;
