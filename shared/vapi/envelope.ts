import { parseTimestamp } from './timestamp.ts';

/** A JSON object as received: nothing about its fields is trusted until read through the helpers below. */
export type JsonObject = Record<string, unknown>;

/** One webhook event, whichever envelope it came in. */
export interface IncomingEvent {
  source: 'vapi' | 'story';
  /** Vapi's `message.type` or the story's `type`. */
  type: string;
  /** Vapi's `call.id` (the story's `sessionId`/`callId`); null for events not tied to a call. */
  callId: string | null;
  /** Vapi's `chat.id`, for messages from a chat rather than a call (its tool calls, say). */
  chatId: string | null;
  /** When Vapi says it happened; null when the event carries no readable timestamp. */
  timestamp: Date | null;
  /** Vapi's `message` object or the story's `data` object. */
  message: JsonObject;
}

export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A non-empty string field, or undefined. NUL characters are dropped and lone surrogates replaced
 * (U+FFFD): Postgres text cannot hold the one nor jsonb the other, and no real field carries either.
 */
export const str = (value: unknown): string | undefined => {
  if (typeof value !== 'string') return undefined;
  const text = (value.includes('\u0000') ? value.replaceAll('\u0000', '') : value).toWellFormed();
  return text.length > 0 ? text : undefined;
};

/** A finite number field (numeric strings accepted), or undefined. */
export const num = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

export const obj = (value: unknown): JsonObject => (isObject(value) ? value : {});

export const arr = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Longer ids or type names are not Vapi's: refused rather than stored as keys and metric labels. */
const MAX_ID_LENGTH = 128;

const short = (value: unknown) => {
  const text = str(value);
  return text && text.length <= MAX_ID_LENGTH ? text : undefined;
};

function envelope(source: IncomingEvent['source'], type: unknown, callId: unknown, message: JsonObject): IncomingEvent | null {
  const name = short(type);
  const chatId = obj(message.chat).id;
  if (!name || (callId !== undefined && !short(callId)) || (chatId !== undefined && !short(chatId))) return null;
  return { source, type: name, callId: short(callId) ?? null, chatId: short(chatId) ?? null, timestamp: parseTimestamp(message.timestamp), message };
}

/**
 * Recognises either envelope and extracts what routing needs. Returns null when the body is not an
 * event (no object, no type, or an implausible type or call id), which the ingress answers with 400.
 */
export function readEnvelope(body: unknown): IncomingEvent | null {
  if (!isObject(body)) return null;
  if (isObject(body.message)) {
    const { message } = body;
    return envelope('vapi', message.type, obj(message.call).id, message);
  }
  if (!isObject(body.data)) return null;
  const { data } = body;
  return envelope('story', body.type, data.sessionId ?? data.callId ?? obj(data.call).id, data);
}

/** The session an event belongs to: its call, else its chat. */
export const sessionIdOf = (event: IncomingEvent): string | null => event.callId ?? event.chatId;
