import { and, desc, eq, getTableColumns, gte, lte, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTIONS, AUDIT_ACTORS, recordAudit } from '#shared/audit';
import type { Database } from '#shared/db/client';
import { auditEvents, notificationAttempts, notificationEndpoints, toolCalls, vapiEvents } from '#shared/db/schema';
import { HttpError } from '#shared/http/errors';
import type { CatalogQueues } from '#shared/plugins/queues';
import { QUEUE_KEYS } from '#shared/queues/catalog';
import type { JobCodec } from '#shared/queues/codec';
import { createDeadLetters, UnknownDeadLetterError, type DeadLetterFilter } from '#shared/queues/dead-letters';

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
const actionSchema = filterSchema
  .extend({ all: z.boolean().optional(), endpoint: text.pipe(z.url({ protocol: /^https?$/ })).optional() })
  .refine(
    (body) =>
      body.all === true ||
      body.ids !== undefined ||
      body.type !== undefined ||
      body.error !== undefined ||
      body.since !== undefined ||
      body.until !== undefined,
    'name the dead letters: ids, a filter (type, error, since, until), or all: true',
  );

/** The filters of every log search; each search says which of them it reads, and on which column. */
const logSchema = z.object({
  sessionId: text.max(200).optional(),
  patientId: text.max(200).optional(),
  type: text.max(200).optional(),
  status: text.max(50).optional(),
  endpoint: text.max(2000).optional(),
  action: text.pipe(z.enum(Object.keys(AUDIT_ACTIONS) as [string, ...string[]])).optional(),
  actor: text.pipe(z.enum(AUDIT_ACTORS)).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
type LogFilter = Exclude<keyof z.output<typeof logSchema>, 'since' | 'until' | 'limit'>;

/** One search of what happened: the rows of `from` its filters select, between `since` and `until` on `at`, newest first, `key` naming the answer's list. */
interface LogSearch {
  key: string;
  from: PgTable;
  at: PgColumn;
  filters: Partial<Record<LogFilter, PgColumn>>;
  /** What is shown of a row (never a payload). */
  columns: Record<string, PgColumn>;
}

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
 * session, name and outcome; notification deliveries by endpoint and outcome; the audit log by
 * patient, session, action and actor.
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

  /** An id named that is no dead letter is a 404, and nothing was done. */
  const named = async <T>(act: () => Promise<T>) => {
    try {
      return await act();
    } catch (error) {
      if (error instanceof UnknownDeadLetterError) throw new HttpError(404, 'NOT_FOUND', error.message);
      throw error;
    }
  };
  app.post('/dlq/replay', async (request) => {
    const { endpoint, ...filter }: DeadLetterFilter & { endpoint?: string } = parse(actionSchema, request.body);
    return named(() => deadLetters.replay(filter, actor(request), { endpoint }));
  });
  app.post('/dlq/purge', async (request) => named(() => deadLetters.purge(parse(actionSchema, request.body), actor(request))));

  app.post('/notifications/endpoints/enable', async (request) => {
    const { url } = parse(z.object({ url: text.pipe(z.url()) }), request.body);
    const enabled = await db
      .update(notificationEndpoints)
      .set({ disabledAt: null, disabledReason: null, updatedAt: new Date() })
      .where(eq(notificationEndpoints.url, url))
      .returning({ url: notificationEndpoints.url });
    await recordAudit(db, {
      actor: 'admin',
      action: 'endpoint.enable',
      what: [`notification endpoint ${url}`],
      source: actor(request),
      outcome: enabled.length > 0 ? 'success' : 'not-found',
    });
    return { enabled: enabled.length > 0 };
  });

  const search = (path: string, { key, from, at, filters, columns }: LogSearch) =>
    app.get(path, async (request) => {
      const q = parse(logSchema, request.query);
      const where: SQL[] = [];
      for (const [name, column] of Object.entries(filters) as [LogFilter, PgColumn][]) if (q[name] !== undefined) where.push(eq(column, q[name]));
      if (q.since) where.push(gte(at, q.since));
      if (q.until) where.push(lte(at, q.until));
      return {
        [key]: await db
          .select(columns)
          .from(from)
          .where(and(...where))
          .orderBy(desc(at))
          .limit(q.limit),
      };
    });

  const { payload: _payload, ...eventColumns } = getTableColumns(vapiEvents);
  search('/log/events', {
    key: 'events',
    from: vapiEvents,
    at: vapiEvents.processedAt,
    filters: { sessionId: vapiEvents.sessionId, type: vapiEvents.type },
    columns: eventColumns,
  });
  const { arguments: _arguments, result: _result, toolCallId: _toolCallId, ...toolCallColumns } = getTableColumns(toolCalls);
  search('/log/tool-calls', {
    key: 'toolCalls',
    from: toolCalls,
    at: toolCalls.createdAt,
    filters: { sessionId: toolCalls.sessionId, type: toolCalls.name, status: toolCalls.status },
    columns: toolCallColumns,
  });
  search('/log/deliveries', {
    key: 'deliveries',
    from: notificationAttempts,
    at: notificationAttempts.createdAt,
    filters: { endpoint: notificationAttempts.endpoint, status: notificationAttempts.outcome },
    columns: getTableColumns(notificationAttempts),
  });
  search('/log/audit', {
    key: 'auditEvents',
    from: auditEvents,
    at: auditEvents.at,
    filters: { patientId: auditEvents.patientId, sessionId: auditEvents.sessionId, action: auditEvents.action, actor: auditEvents.actor },
    columns: getTableColumns(auditEvents),
  });
}
