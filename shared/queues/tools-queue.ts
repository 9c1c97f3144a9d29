import { z } from 'zod';
import type { SessionOrigin } from '../vapi/session-origin.ts';
import { defineQueue } from './definition.ts';
import { keptJobs } from './lifetimes.ts';

/** Who is asking: the call (or chat) the tool call belongs to, and what it says about the call and caller. */
export interface ToolCallContext {
  /**
   * `call.id`, or the chat's id for a chat's tool calls: the session the tools act for; null for a
   * message that names neither (Vapi's dashboard tool tester), whose tools run without a patient.
   */
  sessionId: string | null;
  /** The session the call starts, read as the events lane reads it, for a call whose first event is not stored yet. */
  origin: SessionOrigin;
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
    sessionId: z.string().min(1).nullable(),
    toolCallId: z.string().min(1),
    name: z.string(),
    /** Epoch ms after which the answer is worthless and the call must not run. */
    deadline: z.number().int(),
    requestId: z.string(),
  }),
  options: { attempts: 1, ...keptJobs('tools') },
});

export interface ToolMeta extends Record<string, unknown> {
  /** Null for tool calls that name no call or chat. */
  sessionId: string | null;
  toolCallId: string;
  name: string;
  deadline: number;
  requestId: string;
}
