import { z } from 'zod';
import { defineQueue } from './definition.ts';
import { keptJobs } from './lifetimes.ts';

/** Who is asking: the call (or chat) the tool call belongs to, and what it says about the caller. */
export interface ToolCallContext {
  /** `call.id`, or the chat's id for a chat's tool calls: the session the tools act for. */
  sessionId: string;
  kind: 'call' | 'chat';
  /** `call.metadata.patientId`, set by our own app for a logged-in patient. */
  claimedPatientId: string | null;
  /** The caller's number, for binding a session that does not exist yet. */
  callerNumber: string | null;
}

export interface ToolJobPayload {
  /** As Vapi sent them: an object, a JSON string, or anything else (refused by the tool's schema). */
  arguments: unknown;
  context: ToolCallContext;
}

/** What the assistant hears back: exactly one of the two, a single-line string. */
export type ToolJobResult = { result: string } | { error: string };

/**
 * `vapi-tools`: one job per tool call, from the ingress (which waits for the result until the
 * deadline) to a worker that runs it. One attempt: the caller is waiting, and a job found past
 * its deadline is not run at all. Failed ones stay two weeks for operators, not for replay.
 */
export const toolsQueue = defineQueue<ToolMeta, ToolJobPayload, ToolJobResult>({
  name: 'vapi-tools',
  description: 'Tool calls the assistant waits on',
  meta: z.object({
    sessionId: z.string().min(1),
    toolCallId: z.string().min(1),
    name: z.string(),
    /** Epoch ms after which the answer is worthless and the call must not run. */
    deadline: z.number().int(),
    requestId: z.string(),
  }),
  options: { attempts: 1, ...keptJobs('tools') },
});

export interface ToolMeta extends Record<string, unknown> {
  sessionId: string;
  toolCallId: string;
  name: string;
  deadline: number;
  requestId: string;
}
