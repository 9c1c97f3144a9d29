import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { recordAudit } from '#shared/audit';
import type { RelayConfig } from '#shared/config';
import { bearerToken } from '#shared/http/authorization';
import { replyNotFound } from '#shared/http/errors';
import { RelayErrors } from '../errors.ts';
import { CursorError } from '../lib/history-cursor.ts';
import { listSessions, readEvents, readMessages, readSession } from '../lib/patient-sessions.ts';
import { TokenError, verifyRelayToken, type RelayGrant } from '#shared/relay-token';
import {
  errorAnswer,
  eventsAnswer,
  eventsQuery,
  jsonSchema,
  messagesAnswer,
  messagesQuery,
  sessionAnswer,
  sessionParams,
  sessionsAnswer,
  sessionsQuery,
} from './history-schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the history API's token grants; set by its scope's onRequest hook before any of its handlers runs. */
    relayGrant: RelayGrant | null;
  }
}

/** The tag that puts a route in the OpenAPI document (plugins/openapi.ts). */
export const HISTORY_TAG = 'history';

/** Query parameters a token could travel in: refused, since URLs end up in logs, proxies and browser history. */
const TOKEN_PARAMETERS = ['token', 'access_token'];

const errors = { 400: jsonSchema(errorAnswer, 'output'), 401: jsonSchema(errorAnswer, 'output'), 404: jsonSchema(errorAnswer, 'output') };
const route = (summary: string, parts: { querystring?: z.ZodType; params?: z.ZodType; answer: z.ZodType }) => ({
  schema: {
    tags: [HISTORY_TAG],
    summary,
    security: [{ relayToken: [] }],
    ...(parts.querystring ? { querystring: jsonSchema(parts.querystring, 'input') } : {}),
    ...(parts.params ? { params: jsonSchema(parts.params, 'input') } : {}),
    response: { 200: jsonSchema(parts.answer, 'output'), ...errors },
  },
});

/** The grant the scope's hook verified. */
const grantOf = (request: FastifyRequest): RelayGrant => request.relayGrant!;

/** A cursor the client made up or changed is its mistake (400), like any other bad paging value. */
async function paging<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof CursorError) throw RelayErrors.invalidRequest(error.message);
    throw error;
  }
}

/**
 * The patient's history API (docs/relay.md, "History API"), an encapsulated plugin (no
 * fastify-plugin) mounted at `/v1`: its onRequest hook verifies the relay token for exactly the
 * routes registered here, and its own not-found handler keeps unmatched `/v1/...` paths behind it
 * too. Every answer, refusals included, is `no-store`; another patient's session and a session that
 * does not exist get the same 404. Each read is recorded in `audit_events`, by ids, never content.
 */
export async function historyRoutes(scope: FastifyInstance, { config }: { config: RelayConfig }) {
  const { db, cipher } = scope;
  const rules = { secret: config.relayJwtSecret, maxTtlS: config.relayTokenMaxTtlS };
  scope.decorateRequest('relayGrant', null);

  scope.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const query = request.query as Record<string, unknown>;
    if (TOKEN_PARAMETERS.some((name) => query[name] !== undefined)) {
      throw RelayErrors.unauthorized('a token in the query string is refused: send it as Authorization: Bearer');
    }
    const token = bearerToken(request.headers.authorization);
    if (!token) throw RelayErrors.unauthorized('a token is required (Authorization: Bearer)');
    try {
      request.relayGrant = verifyRelayToken(token, rules);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      throw RelayErrors.unauthorized(error.message);
    }
  });
  // Bad paging values are the client's: the contract's 400 INVALID_REQUEST, naming the value.
  scope.addHook('onRoute', (options) => {
    options.schemaErrorFormatter = (failures, dataVar) =>
      RelayErrors.invalidRequest(failures.map((failure) => `${dataVar}${failure.instancePath.replaceAll('/', '.')} ${failure.message}`).join('; '));
  });
  // Answers go out as JSON.stringify writes them, the socket's way: the response schemas document, they do not reshape.
  scope.setSerializerCompiler(() => (data) => JSON.stringify(data));
  scope.setNotFoundHandler(replyNotFound);

  const audit = (request: FastifyRequest, sessionId: string | null, what: string[]) =>
    recordAudit(db, { actor: 'patient', action: 'history.read', patientId: grantOf(request).patientId, sessionId, what, source: request.ip });

  scope.get('/sessions', route("The patient's sessions, newest first", { querystring: sessionsQuery, answer: sessionsAnswer }), async (request) => {
    const page = await paging(listSessions(db, cipher, grantOf(request), request.query as z.output<typeof sessionsQuery>));
    await audit(request, null, page.items.length > 0 ? page.items.map((session) => `session ${session.id}`) : ['sessions (0)']);
    return { sessions: page.items, nextCursor: page.nextCursor };
  });

  scope.get(
    '/sessions/:id',
    route('One session: status, times, summary, turns, tools used', { params: sessionParams, answer: sessionAnswer }),
    async (request) => {
      const { id } = request.params as z.output<typeof sessionParams>;
      const session = await readSession(db, cipher, grantOf(request), id);
      if (!session) throw RelayErrors.noSession();
      await audit(request, id, [`session ${id}`]);
      return session;
    },
  );

  scope.get(
    '/sessions/:id/messages',
    route("A session's final transcript, in the order it was spoken", { params: sessionParams, querystring: messagesQuery, answer: messagesAnswer }),
    async (request) => {
      const { id } = request.params as z.output<typeof sessionParams>;
      const page = await paging(readMessages(db, cipher, grantOf(request), id, request.query as z.output<typeof messagesQuery>));
      if (!page) throw RelayErrors.noSession();
      await audit(request, id, [`messages of session ${id} (${page.items.length})`]);
      return { messages: page.items, nextCursor: page.nextCursor };
    },
  );

  scope.get(
    '/sessions/:id/events',
    route("A session's relay events after a seq, exactly as the socket sends them", { params: sessionParams, querystring: eventsQuery, answer: eventsAnswer }),
    async (request) => {
      const { id } = request.params as z.output<typeof sessionParams>;
      const { afterSeq, limit } = request.query as z.output<typeof eventsQuery>;
      const page = await readEvents(db, cipher, grantOf(request), id, afterSeq, limit);
      if (!page) throw RelayErrors.noSession();
      const read = page.events.length > 0 ? `seq ${page.events[0]!.seq}–${page.events.at(-1)!.seq}` : `none after seq ${afterSeq}`;
      await audit(request, id, [`events of session ${id}: ${read}`]);
      return page;
    },
  );
}
