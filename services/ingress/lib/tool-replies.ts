import type { Vapi } from '@vapi-ai/server-sdk';
import type { IncomingEvent } from '#shared/vapi/envelope';
import { toolCallsOf } from '#shared/vapi/read';

const TOOLS_UNAVAILABLE = 'This action is not available right now.';

/** The legacy `function-call` answer (Vapi's old functions, and the story's envelope). */
export interface FunctionCallReply {
  result: string;
}

/**
 * Answers for tool calls while tools are not wired: one error entry per call, in order, with the
 * call's id and name, so the assistant says something rather than "No result returned".
 */
export function toolsUnavailableReply(event: IncomingEvent): Vapi.ServerMessageResponseToolCalls | FunctionCallReply | null {
  if (event.type === 'tool-calls') {
    return { results: toolCallsOf(event.message).map(({ id, name }) => ({ toolCallId: id, name, error: TOOLS_UNAVAILABLE })) };
  }
  if (event.type === 'function-call') return { result: TOOLS_UNAVAILABLE };
  return null;
}
