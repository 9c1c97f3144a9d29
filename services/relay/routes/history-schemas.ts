import { z } from 'zod';
import { MAX_CURSOR_LENGTH } from '../lib/history-cursor.ts';

/**
 * The history API's requests and answers (docs/relay.md, "History API"), declared once in zod:
 * the routes validate requests with their JSON Schema, the handlers take their types from them, and
 * the OpenAPI document is generated from the same schemas.
 */

/** Largest `seq` a session can reach (an `integer` column): a larger `afterSeq` is refused, not sent to Postgres. */
const MAX_SEQ = 2_147_483_647;

const cursor = z.string().min(1).max(MAX_CURSOR_LENGTH).describe('opaque: the nextCursor of the previous page');
const limit = (max: number, fallback: number) => z.int().min(1).max(max).default(fallback).describe(`items per page, 1–${max}`);

export const sessionsQuery = z.object({ limit: limit(100, 20), cursor: cursor.optional() });
export const messagesQuery = z.object({ limit: limit(500, 100), cursor: cursor.optional() });
export const eventsQuery = z.object({
  afterSeq: z.int().min(0).max(MAX_SEQ).default(0).describe('events with a greater seq are returned'),
  limit: limit(500, 100),
});
export const sessionParams = z.object({ id: z.string().describe("the session's id (Vapi's call.id)") });

const time = z.string().describe('ISO-8601');
const nullableTime = time.nullable();

const sessionView = z.object({
  id: z.string(),
  status: z.string(),
  startedAt: nullableTime,
  endedAt: nullableTime,
  endedReason: z.string().nullable(),
  summary: z.string().nullable().describe('decrypted; null until the call completes'),
  durationSeconds: z.number().nullable(),
  lastSeq: z.int().describe('seq of the last event stored'),
});

const nextCursor = z.string().nullable().describe('null after the last page');

export const sessionsAnswer = z.object({ sessions: z.array(sessionView), nextCursor });
export const sessionAnswer = sessionView.extend({
  turns: z.object({ user: z.int(), assistant: z.int() }),
  toolsUsed: z.array(z.string()),
});
export const messagesAnswer = z.object({
  messages: z.array(z.object({ role: z.enum(['user', 'assistant', 'system']), transcript: z.string(), timestamp: time })),
  nextCursor,
});

/** A relay event, as the WebSocket sends it (shared/relay.ts `RelayEvent`). */
const relayEvent = z.object({
  type: z.enum(['session_status', 'transcript', 'speech', 'function_call', 'session_end', 'session_error']),
  sessionId: z.string(),
  seq: z.int().min(1),
  at: time,
  data: z.record(z.string(), z.unknown()),
});
export const eventsAnswer = z.object({ events: z.array(relayEvent), lastSeq: z.int() });

export const errorAnswer = z.object({ success: z.literal(false), code: z.string(), message: z.string() });

/** A zod schema as the draft-07 JSON Schema Fastify's validator and @fastify/swagger read (they take no `$schema` of 2020-12). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io });
  return rest;
}
