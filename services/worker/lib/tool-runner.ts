import type { FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { recordAudit } from '#shared/audit';
import type { FieldCipher } from '#shared/crypto';
import type { Database, Transaction } from '#shared/db/client';
import type { ToolJobPayload, ToolJobResult, ToolMeta } from '#shared/queues/tools-queue';
import { functionCallEvent, type ToolCallPhase } from '#shared/relay';
import { ToolDeadlineError, ToolRefusal, type ToolContext, type ToolDefinition } from '../tools/define-tool.ts';
import { toJobError } from './job-error.ts';
import type { Committed } from './outbox-dispatcher.ts';
import { appendRelayEvents } from './outbox-repository.ts';
import { lockOrCreateSession } from './session-repository.ts';
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
  needsCall: 'I can only do that during a call with a patient of the clinic.',
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

const oneLineAnswer = ({ answer }: Ended): ToolJobResult => ('result' in answer ? { result: oneLine(answer.result) } : { error: oneLine(answer.error) });

/** A job found past its deadline is not run: the assistant was told it failed already. */
const EXPIRED_BEFORE_RUN: Ended = { status: 'expired', answer: { error: SAY.expired }, reason: 'deadline passed before the job ran' };

/** A job of a call's session. */
type SessionToolMeta = ToolMeta & { sessionId: string };

/**
 * Runs one tool call for a session (docs/connecting-vapi.md, "Tools"): records it, tells the app it
 * started, runs the tool against the session's own patient, records the answer (encrypted) and
 * tells the app how it ended. A job past its deadline is recorded as expired and not run; a
 * redelivered job gets the answer its first run recorded. A call of a message naming no call or
 * chat runs only if its tool needs no patient. Whatever happens, the assistant gets a sentence it
 * can say.
 */
export function createToolRunner({ db, cipher, tools, onCommit, logger }: Deps) {
  /** Records a step of the call and tells the app, in one transaction under the session's lock. */
  async function announce(meta: SessionToolMeta, payload: ToolJobPayload, status: ToolCallPhase, record: (tx: Transaction) => Promise<unknown>) {
    const committed = await db.transaction(async (tx): Promise<Committed> => {
      const session = await lockOrCreateSession(tx, cipher, meta.sessionId, payload.context.origin);
      await record(tx);
      const event = { ...functionCallEvent(meta.name, status, meta.toolCallId), at: new Date() };
      const relay = await appendRelayEvents(tx, cipher, [{ session, events: [event] }]);
      return { relay: relay.map((event) => ({ ...event, patientId: session.patientId })), notifications: 0 };
    });
    onCommit(committed);
  }

  /** Runs a handler; whatever it throws becomes a sentence the assistant can say. */
  async function answer(tool: ToolDefinition, meta: ToolMeta, run: () => Promise<Record<string, unknown>>): Promise<Ended> {
    try {
      return { status: 'succeeded', answer: { result: JSON.stringify(await run()) }, reason: null };
    } catch (error) {
      if (error instanceof ToolRefusal) return { status: 'refused', answer: { error: error.message }, reason: `refused: ${error.reason}` };
      if (error instanceof ToolDeadlineError) return { status: 'expired', answer: { error: SAY.expired }, reason: 'deadline passed while running' };
      const reason = toJobError(error).message;
      logger.error({ tool: tool.name, sessionId: meta.sessionId, toolCallId: meta.toolCallId, reason }, 'tool failed');
      return { status: 'failed', answer: { error: SAY.failed }, reason };
    }
  }

  async function execute(tool: ToolDefinition | undefined, meta: ToolMeta, payload: ToolJobPayload): Promise<Ended> {
    if (!tool) return { status: 'unknown_tool', answer: { error: SAY.unknown }, reason: 'unknown tool' };
    const raw = argumentsOf(payload.arguments);
    if (!raw.ok) return { status: 'invalid', answer: { error: SAY.invalidJson }, reason: 'arguments are not JSON' };
    const args = tool.parameters.safeParse(raw.value);
    if (!args.success) return { status: 'invalid', answer: { error: invalidArguments(args.error) }, reason: 'arguments failed validation' };

    const { sessionId } = meta;
    if (tool.sessionless) return answer(tool, meta, () => tool.handler(args.data, { db, cipher, deadline: meta.deadline }));
    if (sessionId === null) return { status: 'refused', answer: { error: SAY.needsCall }, reason: 'no call to act for' };
    const session = await db.transaction((tx) => lockOrCreateSession(tx, cipher, sessionId, payload.context.origin));
    const context: ToolContext = {
      db,
      cipher,
      session: { id: session.id, patientId: session.patientId, verified: session.patientVerified },
      deadline: meta.deadline,
      verifyPatient: (patientId) => verifySessionPatient(db, session.id, patientId),
      recordRead: async ({ patientId, what, outcome }) => {
        await recordAudit(db, {
          actor: 'tool',
          action: 'tool.read',
          patientId,
          sessionId: session.id,
          what: [`tool ${tool.name}`, ...what],
          source: 'worker',
          ...(outcome ? { outcome } : {}),
        });
      },
    };
    return answer(tool, meta, () => tool.handler(args.data, context));
  }

  /** A call that names no call or chat: answered as any other, but nothing to record it under, and no app to tell. */
  async function runSessionless(meta: ToolMeta, payload: ToolJobPayload): Promise<{ outcome: ToolCallStatus; result: ToolJobResult }> {
    const ended: Ended = Date.now() > meta.deadline ? EXPIRED_BEFORE_RUN : await execute(tools.get(meta.name), meta, payload);
    return { outcome: ended.status, result: oneLineAnswer(ended) };
  }

  return async function runTool(job: ToolMeta, payload: ToolJobPayload): Promise<{ outcome: ToolCallStatus; result: ToolJobResult }> {
    if (job.sessionId === null) return runSessionless(job, payload);
    const meta = { ...job, sessionId: job.sessionId };
    const id = toolCallRowId(meta.sessionId, meta.toolCallId);
    const recorded = await findToolCall(db, id);
    if (recorded?.result && recorded.status !== 'running') {
      const answer = cipher.decrypt(recorded.result);
      return { outcome: recorded.status as ToolCallStatus, result: recorded.status === 'succeeded' ? { result: answer } : { error: answer } };
    }
    const call = { id, sessionId: meta.sessionId, toolCallId: meta.toolCallId, name: meta.name, arguments: payload.arguments };
    const started = Date.now();
    const expired = started > meta.deadline;
    if (!expired) await announce(meta, payload, 'started', (tx) => startToolCall(tx, cipher, call));

    const ended: Ended = expired ? EXPIRED_BEFORE_RUN : await execute(tools.get(meta.name), meta, payload);
    const result = oneLineAnswer(ended);
    const answer = 'result' in result ? result.result : result.error;
    await announce(meta, payload, ended.status === 'succeeded' ? 'completed' : 'failed', (tx) =>
      finishToolCall(tx, cipher, call, { status: ended.status, answer, error: ended.reason, durationMs: Date.now() - started }),
    );
    return { outcome: ended.status, result };
  };
}
