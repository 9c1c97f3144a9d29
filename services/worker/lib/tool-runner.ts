import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import type { ToolJobPayload, ToolJobResult, ToolMeta } from '#shared/queues/tools-queue';
import { ToolDeadlineError, ToolRefusal, type ToolContext, type ToolDefinition } from '../tools/define-tool.ts';
import { toJobError } from './job-error.ts';
import type { Committed } from './outbox-dispatcher.ts';
import { appendRelayEvents } from './outbox-repository.ts';
import { lockOrCreateSession, type SessionOrigin } from './session-repository.ts';
import { findToolCall, finishToolCall, startToolCall, toolCallRowId, verifySessionPatient, type ToolCallStatus } from './tool-call-repository.ts';

interface Deps {
  db: Database;
  cipher: FieldCipher;
  tools: ReadonlyMap<string, ToolDefinition>;
  /** Called after each commit, with the relay events it wrote: the outbox publishes them. */
  onCommit: (committed: Committed) => void;
  logger: FastifyBaseLogger;
}

interface Ended {
  status: ToolCallStatus;
  answer: ToolJobResult;
  /** Why, in clear: a status-like reason, never an argument or a value. */
  reason: string | null;
}

const SAY = {
  unknown: 'I cannot do that here.',
  invalidJson: 'I could not read the details for that request. Could you repeat them?',
  failed: 'Something went wrong while I was looking that up. Please try again in a moment.',
  expired: 'That took too long, so I did not complete it. Could we try again?',
};

/** Vapi sends arguments as an object or as a JSON string; anything else is not arguments. */
function argumentsOf(raw: unknown): { ok: true; value: unknown } | { ok: false } {
  if (typeof raw !== 'string') return { ok: true, value: raw ?? {} };
  if (raw.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

/** A sentence naming what was wrong with the arguments: fields and rules only (zod never quotes the values). */
const invalidArguments = (error: z.ZodError) =>
  `I could not use those details: ${error.issues
    .slice(0, 3)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ')}.`;

/** One line, as Vapi asks of every result and error string. */
const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, ' ');

/**
 * Runs one tool call for a session (DESIGN 4): records it, tells the app it started, runs the
 * tool against the session's own patient, records the answer (encrypted) and tells the app how it
 * ended. A job past its deadline is recorded as expired and not run; a redelivered job gets the
 * answer its first run recorded. Whatever happens, the assistant gets a sentence it can say.
 */
export function createToolRunner({ db, cipher, tools, onCommit, logger }: Deps) {
  /** Records a step of the call and tells the app, in one transaction under the session's lock. */
  async function announce(meta: ToolMeta, payload: ToolJobPayload, status: 'started' | 'completed' | 'failed', record: (tx: Transaction) => Promise<unknown>) {
    const committed = await db.transaction(async (tx): Promise<Committed> => {
      const session = await lockOrCreateSession(tx, cipher, meta.sessionId, originOf(payload));
      await record(tx);
      const data = { name: meta.name, status, toolCallId: meta.toolCallId };
      const relay = await appendRelayEvents(tx, cipher, [{ session, events: [{ type: 'function_call', at: new Date(), data }] }]);
      return { relay: relay.map((event) => ({ ...event, patientId: session.patientId })), notifications: 0 };
    });
    onCommit(committed);
  }

  async function execute(tool: ToolDefinition | undefined, meta: ToolMeta, payload: ToolJobPayload): Promise<Ended> {
    if (!tool) return { status: 'unknown_tool', answer: { error: SAY.unknown }, reason: 'unknown tool' };
    const raw = argumentsOf(payload.arguments);
    if (!raw.ok) return { status: 'invalid', answer: { error: SAY.invalidJson }, reason: 'arguments are not JSON' };
    const args = tool.parameters.safeParse(raw.value);
    if (!args.success) return { status: 'invalid', answer: { error: invalidArguments(args.error) }, reason: 'arguments failed validation' };

    const session = await db.transaction((tx) => lockOrCreateSession(tx, cipher, meta.sessionId, originOf(payload)));
    const context: ToolContext = {
      db,
      cipher,
      session: { id: session.id, patientId: session.patientId, verified: session.patientVerified },
      deadline: meta.deadline,
      verifyPatient: (patientId) => verifySessionPatient(db, session.id, patientId),
    };
    try {
      const result = await tool.handler(args.data, context);
      return { status: 'succeeded', answer: { result: JSON.stringify(result) }, reason: null };
    } catch (error) {
      if (error instanceof ToolRefusal) return { status: 'refused', answer: { error: error.message }, reason: `refused: ${error.reason}` };
      if (error instanceof ToolDeadlineError) return { status: 'expired', answer: { error: SAY.expired }, reason: 'deadline passed while running' };
      const reason = toJobError(error).message;
      logger.error({ tool: tool.name, sessionId: meta.sessionId, toolCallId: meta.toolCallId, reason }, 'tool failed');
      return { status: 'failed', answer: { error: SAY.failed }, reason };
    }
  }

  return async function runTool(meta: ToolMeta, payload: ToolJobPayload): Promise<{ outcome: ToolCallStatus; result: ToolJobResult }> {
    const id = toolCallRowId(meta.sessionId, meta.toolCallId);
    const recorded = await findToolCall(db, id);
    if (recorded?.result && recorded.status !== 'running') {
      const answer = cipher.decrypt(recorded.result);
      return { outcome: recorded.status as ToolCallStatus, result: recorded.status === 'succeeded' ? { result: answer } : { error: answer } };
    }
    const call = { id, sessionId: meta.sessionId, toolCallId: meta.toolCallId, name: meta.name, arguments: payload.arguments };
    const started = Date.now();
    // A job found past its deadline is not run: the assistant was told it failed already.
    const expired = started > meta.deadline;
    if (!expired) await announce(meta, payload, 'started', (tx) => startToolCall(tx, cipher, call));

    const ended: Ended = expired
      ? { status: 'expired', answer: { error: SAY.expired }, reason: 'deadline passed before the job ran' }
      : await execute(tools.get(meta.name), meta, payload);
    const answer = oneLine('result' in ended.answer ? ended.answer.result : ended.answer.error);
    await announce(meta, payload, ended.status === 'succeeded' ? 'completed' : 'failed', (tx) =>
      finishToolCall(tx, cipher, call, { status: ended.status, answer, error: ended.reason, durationMs: Date.now() - started }),
    );
    return { outcome: ended.status, result: 'result' in ended.answer ? { result: answer } : { error: answer } };
  };
}

/** The session a tool call's context describes, for a call whose first event is not stored yet. */
const originOf = ({ context }: ToolJobPayload): SessionOrigin => ({
  identity: {
    ...(context.claimedPatientId ? { claimedPatientId: context.claimedPatientId } : {}),
    ...(context.callerNumber ? { callerNumber: context.callerNumber } : {}),
  },
  source: context.kind === 'chat' ? 'chat' : 'vapi',
});
