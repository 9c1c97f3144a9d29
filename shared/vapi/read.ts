import { createHash } from 'node:crypto';
import { arr, obj, str, type IncomingEvent, type JsonObject } from './envelope.ts';

/** Who spoke, in our terms. */
export type Role = 'user' | 'assistant' | 'system';
export type Turns = Record<Role, number>;

/** Vapi's roles (`bot`, `user`, `system`, plus the story's spellings) mapped onto ours; tool items give null. */
export function toRole(value: unknown): Role | null {
  switch (value) {
    case 'user':
    case 'customer':
      return 'user';
    case 'assistant':
    case 'bot':
      return 'assistant';
    case 'system':
      return 'system';
    default:
      return null;
  }
}

/** The text of an utterance, whichever field the sender used. */
export const utteranceText = (m: JsonObject) => str(m.transcript) ?? str(m.content) ?? str(m.message) ?? str(m.text);

/** A `transcript` message is final when it says so, or arrives as `transcript[transcriptType="final"]`. */
export const isFinalTranscript = (type: string, m: JsonObject) => m.transcriptType === 'final' || type.includes('final');

/**
 * The conversation of an end-of-call report: today's `artifact.messages`, else the legacy
 * top-level `messages` (older reports carry an empty artifact beside a full top-level list).
 */
export function conversationOf(m: JsonObject): JsonObject[] {
  const nested = arr(obj(m.artifact).messages);
  return (nested.length > 0 ? nested : arr(m.messages)).map(obj);
}

/** Counts turns and tools in a conversation; null when it has no items. */
export function readConversation(messages: JsonObject[]): { turns: Turns; toolsUsed: string[] } | null {
  if (messages.length === 0) return null;
  const turns: Turns = { user: 0, assistant: 0, system: 0 };
  const tools = new Set<string>();
  for (const message of messages) {
    const role = toRole(message.role);
    // The artifact's `system` item is the assistant's prompt, not a turn of the conversation.
    if (role && role !== 'system') turns[role] += 1;
    for (const call of arr(message.toolCalls)) {
      const name = str(obj(obj(call).function).name);
      if (name) tools.add(name);
    }
  }
  return { turns, toolsUsed: [...tools] };
}

/** Longer patient ids are not our app's. */
const MAX_PATIENT_ID_LENGTH = 128;

/** Who is calling: our app's patient id (set for a logged-in patient), and the caller's number. */
export interface CallerIdentity {
  claimedPatientId?: string | undefined;
  callerNumber?: string | undefined;
}

/** What an event says about who is calling. */
export function callerIdentity(message: JsonObject): CallerIdentity {
  const call = obj(message.call);
  const claimed = str(obj(call.metadata).patientId) ?? str(obj(obj(message.chat).metadata).patientId) ?? str(message.patientId);
  const callerNumber = str(obj(call.customer).number) ?? str(obj(message.customer).number);
  return {
    ...(claimed && claimed.length <= MAX_PATIENT_ID_LENGTH ? { claimedPatientId: claimed } : {}),
    ...(callerNumber ? { callerNumber } : {}),
  };
}

/** One tool call as Vapi asked for it. `arguments` is whatever was sent: an object or a JSON string. */
export interface ToolCallRequest {
  id: string;
  name: string;
  arguments: unknown;
}

/**
 * The tool calls of a `tool-calls` message, whichever of Vapi's layouts carries them
 * (`toolCallList`, the undocumented `toolCalls`, `toolWithToolCallList[].toolCall`, or the flat
 * `{id, name, arguments}` of older docs).
 */
export function toolCallsOf(message: JsonObject): ToolCallRequest[] {
  const unnamed = fallbackIds(message);
  const listed =
    arr(message.toolCallList).length > 0
      ? arr(message.toolCallList)
      : arr(message.toolCalls).length > 0
        ? arr(message.toolCalls)
        : arr(message.toolWithToolCallList).map((tool) => obj(tool).toolCall);
  return listed.map((item, index) => {
    const call = obj(item);
    const fn = obj(call.function);
    return {
      id: str(call.id) ?? unnamed(index),
      name: str(fn.name) ?? str(call.name) ?? '',
      arguments: fn.arguments ?? fn.parameters ?? call.arguments ?? call.parameters ?? {},
    };
  });
}

/** The legacy `function-call` (Vapi's `functionCall {name, parameters}`, or the story's `data {name, parameters|arguments}`). */
export function functionCallOf(event: IncomingEvent): ToolCallRequest {
  const m = event.message;
  const call = { ...m, ...obj(m.functionCall) };
  return {
    id: str(call.id) ?? str(call.toolCallId) ?? fallbackIds(m)(0),
    name: str(call.name) ?? '',
    arguments: call.parameters ?? call.arguments ?? {},
  };
}

/**
 * Ids for tool calls that came without one: the same for a redelivery of the message, different
 * for another message, so neither two calls nor two deliveries are mistaken for each other.
 */
function fallbackIds(message: JsonObject): (index: number) => string {
  const digest = createHash('sha256').update(JSON.stringify(message)).digest('hex').slice(0, 16);
  return (index) => `unnamed-${digest}-${index}`;
}
