import { arr, obj, str, type IncomingEvent } from '#shared/vapi/envelope';

/** What Vapi reads from the HTTP answer, for the event types that expect one. */
export type SyncReply = Record<string, unknown>;

const TOOLS_UNAVAILABLE = 'This action is not available right now.';

/** The tool calls of a `tool-calls` message, whichever of Vapi's layouts carries them. */
export function toolCallsOf(message: Record<string, unknown>): { id: string; name: string }[] {
  const listed = arr(message.toolCallList).length > 0 ? arr(message.toolCallList)
    : arr(message.toolCalls).length > 0 ? arr(message.toolCalls)
    : arr(message.toolWithToolCallList).map((tool) => obj(tool).toolCall);
  return listed.map((call) => {
    const c = obj(call);
    return { id: str(c.id) ?? '', name: str(obj(c.function).name) ?? str(c.name) ?? '' };
  });
}

/**
 * The answer for an event Vapi waits on, or null for informational events (answered
 * `{"received": true}`). Tool execution is not wired yet, so tool calls get an error result the
 * assistant can say instead of a silent "No result returned".
 */
export function syncReplyFor(event: IncomingEvent, assistantId: string): SyncReply | null {
  switch (event.type) {
    case 'tool-calls':
      return { results: toolCallsOf(event.message).map(({ id, name }) => ({ toolCallId: id, name, error: TOOLS_UNAVAILABLE })) };
    case 'function-call':
      return { result: TOOLS_UNAVAILABLE };
    case 'assistant-request':
      return assistantId ? { assistantId } : { error: 'This number is not taking calls right now. Please call the clinic directly.' };
    case 'transfer-destination-request':
    case 'handoff-destination-request':
      return { error: 'No transfer destination is configured.' };
    case 'knowledge-base-request':
      return { documents: [] };
    default:
      return null;
  }
}
