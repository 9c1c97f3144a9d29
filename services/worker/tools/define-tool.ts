import { z } from 'zod';
import type { AuditOutcome } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';

/** The session a tool call acts for: its patient, and whether the caller proved to be that patient. */
export interface ToolSession {
  id: string;
  patientId: string | null;
  verified: boolean;
}

/** What every tool may use, with or without a call. */
export interface ToolBasics {
  db: Database;
  cipher: FieldCipher;
  /** Epoch ms: past it the assistant has moved on, so nothing may be committed. */
  deadline: number;
}

/** What a tool handler of a call may use. It acts on `session.patientId` only, whatever its arguments say. */
export interface ToolContext extends ToolBasics {
  session: ToolSession;
  /** Binds and verifies the session's patient (after the caller proved who they are). */
  verifyPatient(patientId: string): Promise<void>;
  /**
   * Records that the tool is giving the assistant a patient's health records, orders or details
   * (an `audit_events` row, `tool.read`): call it before returning them. `what` names the records
   * by kind and id or count, never their content.
   */
  recordRead(read: ToolRead): Promise<void>;
}

/** One read of a patient's data by a tool, as its audit row says it. */
export interface ToolRead {
  /** Whose data; null when the look-up found nobody. */
  patientId: string | null;
  what: string[];
  /** `success` unless nothing was found. */
  outcome?: AuditOutcome;
}

/**
 * A refusal: `reason`, for the tool-call record (in clear: an operator's few words, never health
 * data), and what the assistant says as it is ("I can't…", "That slot was just taken…").
 */
export class ToolRefusal extends Error {
  override name = 'ToolRefusal';
  constructor(
    readonly reason: string,
    say: string,
  ) {
    super(say);
  }
}

/** The deadline passed while the tool ran: its work was rolled back. */
export class ToolDeadlineError extends Error {
  override name = 'ToolDeadlineError';
}

interface ToolShape<Schema extends z.ZodType> {
  name: string;
  /** Tells the model when to call it (exported to Vapi by `npm run tools:export`). */
  description: string;
  parameters: Schema;
}

/** A tool that acts for a call's session (and its patient): refused, with a sentence, to a message that names no call. */
interface SessionTool<Schema extends z.ZodType> extends ToolShape<Schema> {
  sessionless?: false;
  handler(args: z.output<Schema>, context: ToolContext): Promise<Record<string, unknown>>;
}

/** A tool that needs no patient: it also runs for a message that names no call (Vapi's dashboard tool tester). */
interface SessionlessTool<Schema extends z.ZodType> extends ToolShape<Schema> {
  sessionless: true;
  handler(args: z.output<Schema>, context: ToolBasics): Promise<Record<string, unknown>>;
}

export type ToolDefinition<Schema extends z.ZodType = z.ZodType> = SessionTool<Schema> | SessionlessTool<Schema>;

export const defineTool = <Schema extends z.ZodType>(definition: ToolDefinition<Schema>): ToolDefinition<Schema> => definition;

/** The session's patient, once verified; anything else is refused with a sentence the assistant can say. */
export function verifiedPatient(context: ToolContext): string {
  if (!context.session.patientId || !context.session.verified) {
    throw new ToolRefusal(
      'caller not verified',
      'I need to confirm who you are first. Could you tell me your date of birth and the phone number on your file?',
    );
  }
  return context.session.patientId;
}

/** Throws once the deadline has passed; called inside a transaction just before it commits. */
export function beforeDeadline(context: ToolContext): void {
  if (Date.now() > context.deadline) throw new ToolDeadlineError('The tool deadline passed before its work could be committed');
}

/** `YYYY-MM-DD` that is a real calendar date. */
export const isoDate = (what: string) =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, `${what} must be YYYY-MM-DD`)
    .refine((value) => {
      const date = new Date(`${value}T00:00:00Z`);
      return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
    }, `${what} is not a real date`);
