import { z } from 'zod';
import type { FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';

/** The session a tool call acts for: its patient, and whether the caller proved to be that patient. */
export interface ToolSession {
  id: string;
  patientId: string | null;
  verified: boolean;
}

/** What a tool handler may use. It acts on `session.patientId` only, whatever its arguments say. */
export interface ToolContext {
  db: Database;
  cipher: FieldCipher;
  session: ToolSession;
  /** Epoch ms: past it the assistant has moved on, so nothing may be committed. */
  deadline: number;
  /** Binds and verifies the session's patient (after the caller proved who they are). */
  verifyPatient(patientId: string): Promise<void>;
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

export interface ToolDefinition<Schema extends z.ZodType = z.ZodType> {
  name: string;
  /** Tells the model when to call it (exported to Vapi by `npm run tools:export`). */
  description: string;
  parameters: Schema;
  handler(args: z.output<Schema>, context: ToolContext): Promise<Record<string, unknown>>;
}

export const defineTool = <Schema extends z.ZodType>(definition: ToolDefinition<Schema>): ToolDefinition<Schema> => definition;

/** The session's patient, once verified; anything else is refused with a sentence the assistant can say. */
export function verifiedPatient(context: ToolContext): string {
  if (!context.session.patientId || !context.session.verified) {
    throw new ToolRefusal('caller not verified', 'I need to confirm who you are first. Could you tell me your date of birth and the phone number on your file?');
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
