import type { Vapi } from '@vapi-ai/server-sdk';
import type { ToolCallContext, ToolJobResult } from '#shared/queues/tools-queue';
import { sessionIdOf, type IncomingEvent } from '#shared/vapi/envelope';
import { functionCallOf, toolCallsOf, type ToolCallRequest } from '#shared/vapi/read';
import { sessionOriginOf } from '#shared/vapi/session-origin';

/** The legacy `function-call` answer (Vapi's old functions, and the story's envelope). */
export interface FunctionCallReply {
  result: string;
}

export type ToolReply = Vapi.ServerMessageResponseToolCalls | FunctionCallReply;

/** The tool calls an event asks for, or null for events that ask for none. */
export function toolCallsIn(event: IncomingEvent): ToolCallRequest[] | null {
  if (event.type === 'tool-calls') return toolCallsOf(event.message);
  if (event.type === 'function-call') return [functionCallOf(event)];
  return null;
}

/** Who the tools act for: the call or chat (none for a tester's message), and what it says about the call and caller. */
export const toolContextOf = (event: IncomingEvent): ToolCallContext => ({ sessionId: sessionIdOf(event), origin: sessionOriginOf(event) });

/**
 * The answer Vapi reads: for `tool-calls`, one entry per call in order with its id and name and a
 * single-line `result` or `error`; for a legacy `function-call`, `{ result }` with whichever it got.
 */
export function toolReply(event: IncomingEvent, calls: ToolCallRequest[], answers: ToolJobResult[]): ToolReply {
  if (event.type === 'function-call') {
    const [answer] = answers;
    return { result: answer && 'result' in answer ? answer.result : (answer?.error ?? '') };
  }
  return {
    results: calls.map((call, i) => {
      const answer = answers[i]!;
      return { toolCallId: call.id, name: call.name, ...('result' in answer ? { result: answer.result } : { error: answer.error }) };
    }),
  };
}
