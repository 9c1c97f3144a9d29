import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { RelayConfig } from '#shared/config';
import { bearerToken } from '#shared/http/authorization';
import type { HttpError } from '#shared/http/errors';
import { RelayErrors } from '../errors.ts';
import { createPatientHub } from '../lib/patient-hub.ts';
import { createPatientLimits } from '../lib/patient-limits.ts';
import { CLOSE, RelayClient } from '../lib/relay-client.ts';
import { createRelayMetrics } from '../metrics.ts';
import { createReplayLoader } from '../lib/replay-loader.ts';
import { TokenError, verifyRelayToken, type RelayGrant } from '#shared/relay-token';
import { timerAt } from '../lib/timer-at.ts';

/** The WebSocket endpoint (docs/relay.md, docs/relay-asyncapi.yaml). */
export const STREAM_PATH = '/v1/stream';

export interface StreamOptions {
  config: RelayConfig;
  /** How often clients are pinged; one unanswered ping drops them. */
  pingIntervalMs: number;
  /** Unsent bytes a client may hold before it is closed with 1013; a replay waits at a quarter of it. */
  maxBufferedBytes: number;
  /** How long after connecting sequenced events wait for a subscribe that would replay them in order. */
  subscribeGraceMs: number;
}

/** How long shutdown waits for clients to answer the 1001 close before cutting them off. */
const CLOSE_GRACE_MS = 2_000;

const subscribeMessage = z.object({
  type: z.literal('subscribe'),
  sessionId: z.string().min(1).max(200),
  afterSeq: z.number().int().min(0).default(0),
});

/** The token of an upgrade request: `Authorization: Bearer …` or `?token=…`. */
function tokenOf(request: IncomingMessage, url: URL): string | undefined {
  return bearerToken(request.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
}

/** Answers an upgrade request with a plain HTTP error in the service's error shape, and hangs up. */
function refuse(socket: Duplex, error: HttpError): void {
  const body = JSON.stringify({ success: false, code: error.code, message: error.message });
  const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...error.headers, Connection: 'close' };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(`HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode]}\r\n${head.join('')}\r\n${body}`);
}

/**
 * `GET /v1/stream`: the token is checked on the HTTP upgrade request (401 before any WebSocket
 * exists), then the client gets its patient's live events and may subscribe to replays.
 */
export const streamPlugin = fp(
  async (app: FastifyInstance, options: StreamOptions) => {
    const { config } = options;
    const metrics = createRelayMetrics(app.metrics);
    const loader = createReplayLoader({
      db: app.db,
      cipher: app.cipher,
      onQuery: () => metrics.replayQueries.inc(),
      watchedSince: (patientId) => hub.watchedSince(patientId),
    });
    const hub = createPatientHub({ subscriber: app.redis.subscriber, cipher: app.cipher, prefix: config.queuePrefix, logger: app.log });
    const limits = createPatientLimits(config.relayMaxSocketsPerPatient);
    const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
    let closing = false;

    function connect(ws: WebSocket, socket: Duplex, grant: RelayGrant) {
      const replayBudget = limits.replayBudget(grant.patientId);
      const client = new RelayClient(ws, socket, grant, { loader, metrics, log: app.log, replayBudget, maxBufferedBytes: options.maxBufferedBytes });
      metrics.connections.inc();
      const joined = hub.join(client);
      const grace = setTimeout(() => client.settle(), options.subscribeGraceMs);
      // A connection lives no longer than its token, however far ahead it expires: the app reconnects with a fresh one.
      const cancelExpiry = timerAt(grant.expiresAt * 1000, () => client.close(CLOSE.policyViolation, 'token expired'));
      ws.on('pong', () => {
        client.alive = true;
      });
      ws.on('message', (raw, isBinary) => {
        if (!client.admit()) return;
        let parsed: z.infer<typeof subscribeMessage>;
        try {
          parsed = subscribeMessage.parse(JSON.parse(isBinary ? '' : raw.toString()));
        } catch {
          client.sendError('BAD_REQUEST', 'expected {"type":"subscribe","sessionId":string,"afterSeq":integer ≥ 0}');
          return;
        }
        void joined.then(() => client.subscribe(parsed.sessionId, parsed.afterSeq));
      });
      ws.on('error', (error) => app.log.debug({ err: error }, 'websocket error'));
      ws.on('close', (code) => {
        clearTimeout(grace);
        cancelExpiry();
        hub.leave(client);
        metrics.connections.dec();
        if (client.closedWith === undefined) metrics.closes.inc({ code: String(code) });
      });
    }

    app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://relay');
      if (url.pathname !== STREAM_PATH) return refuse(socket, RelayErrors.notFound(STREAM_PATH));
      if (closing) return refuse(socket, RelayErrors.shuttingDown());
      const token = tokenOf(request, url);
      if (!token) return refuse(socket, RelayErrors.unauthorized('a token is required (Authorization: Bearer or ?token=)'));
      let grant: RelayGrant;
      try {
        grant = verifyRelayToken(token, { secret: config.relayJwtSecret, maxTtlS: config.relayTokenMaxTtlS });
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        return refuse(socket, RelayErrors.unauthorized(error.message));
      }
      if (!limits.admit(grant.patientId)) {
        metrics.rateLimited.inc({ limit: 'sockets' });
        return refuse(socket, RelayErrors.tooManySockets(config.relayMaxSocketsPerPatient));
      }
      // The place belongs to the TCP connection: given back however it ends, upgraded or not.
      socket.once('close', () => limits.release(grant.patientId));
      wss.handleUpgrade(request, socket, head, (ws) => connect(ws, socket, grant));
    });

    // Unanswered pings drop the peer: a phone that lost its network never sends a close frame.
    const pinger = setInterval(() => {
      limits.sweep();
      for (const client of hub.clients()) {
        if (!client.alive) {
          metrics.closes.inc({ code: 'dead' });
          client.closedWith = 1006;
          client.ws.terminate();
          continue;
        }
        client.alive = false;
        client.ws.ping();
      }
    }, options.pingIntervalMs);
    pinger.unref();

    // Before the server stops: tell every client to come back elsewhere (1001), briefly wait for them.
    app.addHook('preClose', async () => {
      closing = true;
      clearInterval(pinger);
      const clients = [...hub.clients()];
      const closed = clients.map(
        (client) => new Promise((resolve) => (client.ws.readyState === client.ws.CLOSED ? resolve(null) : client.ws.once('close', resolve))),
      );
      for (const client of clients) client.close(CLOSE.goingAway, 'relay shutting down');
      const grace = new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
      await Promise.race([Promise.all(closed), grace]);
      for (const client of clients) client.ws.terminate();
      wss.close();
    });
  },
  { name: 'relay-stream', dependencies: ['redis', 'database', 'cipher', 'metrics'] },
);
