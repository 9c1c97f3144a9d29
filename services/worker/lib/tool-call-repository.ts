import { eq, sql } from 'drizzle-orm';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import { toolCalls, vapiSessions } from '#shared/db/schema';
import { anyOf } from '#shared/db/text-array';

/** How a tool call ended; `running` until it does. */
export type ToolCallStatus = 'running' | 'succeeded' | 'refused' | 'invalid' | 'unknown_tool' | 'failed' | 'expired';

/** The row of a tool call: `<sessionId>:<toolCallId>`, so a redelivered job finds what the first run answered. */
export const toolCallRowId = (sessionId: string, toolCallId: string) => `${sessionId}:${toolCallId}`;

export async function findToolCall(db: Database, id: string) {
  const [row] = await db.select().from(toolCalls).where(eq(toolCalls.id, id));
  return row;
}

export interface ToolCallRecord {
  id: string;
  sessionId: string;
  toolCallId: string;
  name: string;
  arguments: unknown;
}

const rowOf = (cipher: FieldCipher, call: ToolCallRecord) => ({ ...call, arguments: cipher.encryptJson(call.arguments ?? null) });

/** Records a call as running, its arguments encrypted. */
export async function startToolCall(tx: Transaction, cipher: FieldCipher, call: ToolCallRecord): Promise<void> {
  await tx
    .insert(toolCalls)
    .values({ ...rowOf(cipher, call), status: 'running' })
    .onConflictDoNothing();
}

/** Records how a call ended (whether or not it was recorded as started): the answer encrypted, the reason in clear. */
export async function finishToolCall(
  tx: Transaction,
  cipher: FieldCipher,
  call: ToolCallRecord,
  outcome: { status: ToolCallStatus; answer: string; error: string | null; durationMs: number },
): Promise<void> {
  const ended = { status: outcome.status, result: cipher.encrypt(outcome.answer), error: outcome.error, durationMs: outcome.durationMs };
  await tx
    .insert(toolCalls)
    .values({ ...rowOf(cipher, call), ...ended })
    .onConflictDoUpdate({ target: toolCalls.id, set: ended });
}

/** Binds the session to the patient the caller proved to be, and marks it verified. */
export async function verifySessionPatient(db: Database, sessionId: string, patientId: string): Promise<void> {
  await db
    .update(vapiSessions)
    .set({ patientId, patientVerified: true, updatedAt: sql`now()` })
    .where(eq(vapiSessions.id, sessionId));
}

/** Names of the tools each session used, in the order first used; sessions that used none are absent. */
export async function toolsUsedIn(tx: Transaction, sessionIds: string[]): Promise<Map<string, string[]>> {
  const used = new Map<string, string[]>();
  if (sessionIds.length === 0) return used;
  const rows = await tx
    .select({ sessionId: toolCalls.sessionId, name: toolCalls.name })
    .from(toolCalls)
    .where(anyOf(toolCalls.sessionId, sessionIds))
    .groupBy(toolCalls.sessionId, toolCalls.name)
    .orderBy(sql`min(${toolCalls.createdAt})`);
  for (const row of rows) used.set(row.sessionId, [...(used.get(row.sessionId) ?? []), row.name]);
  return used;
}
