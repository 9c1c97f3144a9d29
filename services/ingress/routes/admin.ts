import { and, desc, eq, gte, lte, type SQL } from 'drizzle-orm';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Database } from '#shared/db/client';
import { adminActions, notificationAttempts, notificationEndpoints, toolCalls, vapiEvents } from '#shared/db/schema';
import { HttpError } from '#shared/http/errors';
import type { CatalogQueues } from '#shared/plugins/queues';
import { QUEUE_KEYS } from '#shared/queues/catalog';
import type { JobCodec } from '#shared/queues/codec';
import { createDeadLetters } from '../lib/dead-letters.ts';

/** A NUL or a lone surrogate: neither fits a Postgres text or jsonb value, so a filter holding one is refused up front. */
const UNSTORABLE = /[\0\p{Cs}]/u;
const text = z.string().refine((value) => !UNSTORABLE.test(value), 'holds a character that cannot be stored (NUL or a lone surrogate)');

const isoDate = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
/** Job ids as a list, or comma-separated (a query string). */
const idList = z.preprocess((value) => (typeof value === 'string' ? value.split(',').filter(Boolean) : value), z.array(text.min(1).max(200)));

const filterSchema = z.object({
  queue: z.enum(QUEUE_KEYS as [string, ...string[]]).optional() as z.ZodOptional<z.ZodType<(typeof QUEUE_KEYS)[number]>>,
  type: text.max(200).optional(),
  error: text.max(200).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  ids: idList.optional(),
});

/** A replay or purge must name what it touches: ids, a filter, or `all: true`. */
const actionSchema = filterSchema.extend({ all: z.boolean().optional() }).refine(
  (body) => body.all === true || body.ids !== undefined || body.type !== undefined || body.error !== undefined || body.since !== undefined || body.until !== undefined,
  'name the dead letters: ids, a filter (type, error, since, until), or all: true',
);

const logSchema = z.object({
  sessionId: text.max(200).optional(),
  type: text.max(200).optional(),
  status: text.max(50).optional(),
  endpoint: text.max(2000).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new HttpError(400, 'BAD_REQUEST', result.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  return result.data;
}

/** What the operators' API works on: the ingress's queue handles, its database pool and its job codec. */
export interface AdminResources {
  queues: CatalogQueues;
  db: Database;
  jobCodec: JobCodec;
}

/**
 * The operators' API, mounted in the admin scope (shared/http/admin-scope.ts: the token and origin
 * checks, the `/admin` prefix): dead letters of every catalog queue — list, show (the payload
 * opened for the admin only, and the access recorded), replay with a fresh attempt budget, purge —
 * and a search of what happened, kept in Postgres: events by call, type and time; tool calls by
 * session, name and outcome; notification deliveries by endpoint and outcome.
 */
export async function adminRoutes(app: FastifyInstance, { queues, db, jobCodec }: AdminResources) {
  const deadLetters = createDeadLetters(queues, db, jobCodec);
  const actor = (request: FastifyRequest) => request.ip;

  app.get('/dlq', async (request) => ({ deadLetters: await deadLetters.list(parse(filterSchema, request.query)) }));

  app.get('/dlq/:queue/:id', async (request) => {
    const { queue, id } = parse(z.object({ queue: z.enum(QUEUE_KEYS as [string, ...string[]]), id: text.min(1) }), request.params);
    const found = await deadLetters.show(queue as (typeof QUEUE_KEYS)[number], id, actor(request));
    if (!found) throw new HttpError(404, 'NOT_FOUND', `No job ${id} in ${queue}`);
    request.log.warn({ queue, jobId: id, ip: actor(request) }, 'dead letter payload read by an operator');
    return found;
  });

  app.post('/dlq/replay', async (request) => deadLetters.replay(parse(actionSchema, request.body), actor(request)));
  app.post('/dlq/purge', async (request) => deadLetters.purge(parse(actionSchema, request.body), actor(request)));

  app.post('/notifications/endpoints/enable', async (request) => {
    const { url } = parse(z.object({ url: text.pipe(z.url()) }), request.body);
    const enabled = await db
      .update(notificationEndpoints)
      .set({ disabledAt: null, disabledReason: null, updatedAt: new Date() })
      .where(eq(notificationEndpoints.url, url))
      .returning({ url: notificationEndpoints.url });
    await db.insert(adminActions).values({ action: 'enable-endpoint', filter: { url }, affected: enabled.length, actorIp: actor(request) });
    return { enabled: enabled.length > 0 };
  });

  app.get('/log/events', async (request) => {
    const q = parse(logSchema, request.query);
    const where: SQL[] = [];
    if (q.sessionId) where.push(eq(vapiEvents.sessionId, q.sessionId));
    if (q.type) where.push(eq(vapiEvents.type, q.type));
    if (q.since) where.push(gte(vapiEvents.processedAt, q.since));
    if (q.until) where.push(lte(vapiEvents.processedAt, q.until));
    const rows = await db
      .select({ id: vapiEvents.id, sessionId: vapiEvents.sessionId, type: vapiEvents.type, occurredAt: vapiEvents.occurredAt, receivedAt: vapiEvents.receivedAt, processedAt: vapiEvents.processedAt })
      .from(vapiEvents)
      .where(and(...where))
      .orderBy(desc(vapiEvents.processedAt))
      .limit(q.limit);
    return { events: rows };
  });

  app.get('/log/tool-calls', async (request) => {
    const q = parse(logSchema, request.query);
    const where: SQL[] = [];
    if (q.sessionId) where.push(eq(toolCalls.sessionId, q.sessionId));
    if (q.type) where.push(eq(toolCalls.name, q.type));
    if (q.status) where.push(eq(toolCalls.status, q.status));
    if (q.since) where.push(gte(toolCalls.createdAt, q.since));
    if (q.until) where.push(lte(toolCalls.createdAt, q.until));
    const rows = await db
      .select({ id: toolCalls.id, sessionId: toolCalls.sessionId, name: toolCalls.name, status: toolCalls.status, error: toolCalls.error, durationMs: toolCalls.durationMs, createdAt: toolCalls.createdAt })
      .from(toolCalls)
      .where(and(...where))
      .orderBy(desc(toolCalls.createdAt))
      .limit(q.limit);
    return { toolCalls: rows };
  });

  app.get('/log/deliveries', async (request) => {
    const q = parse(logSchema, request.query);
    const where: SQL[] = [];
    if (q.endpoint) where.push(eq(notificationAttempts.endpoint, q.endpoint));
    if (q.status) where.push(eq(notificationAttempts.outcome, q.status));
    if (q.since) where.push(gte(notificationAttempts.createdAt, q.since));
    if (q.until) where.push(lte(notificationAttempts.createdAt, q.until));
    const rows = await db.select().from(notificationAttempts).where(and(...where)).orderBy(desc(notificationAttempts.createdAt)).limit(q.limit);
    return { deliveries: rows };
  });
}
