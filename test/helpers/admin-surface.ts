import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { DatabaseHandle } from '#shared/db/client';
import { auditEvents } from '#shared/db/schema';
import type { CatalogQueues } from '#shared/plugins/queues';
import { eventsQueue } from '#shared/queues/events-queue';
import { notificationsQueue } from '#shared/queues/notifications-queue';
import type { RedisClient } from '#shared/redis';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, testConfig } from './config.ts';
import type { integrationResources } from './resources.ts';

import { rawRequest } from './raw-http.ts';
import { registeredRoutes } from './routes.ts';
import { hmacHeaders } from './signing.ts';
import { waitFor } from './wait-for.ts';

/** One request an attacker (or an operator) can send: a registered method on a concrete path. */
export interface AdminTarget {
  method: string;
  path: string;
}

/** The jobs every admin test works on: completed, failed (a dead letter), waiting and delayed ones. */
export interface SeededJobs {
  failedId: string;
}

async function postEvent(ingress: FastifyInstance, message: Record<string, unknown>) {
  const raw = JSON.stringify({ message: { timestamp: Date.now(), call: { id: `call-${randomUUID()}`, orgId: 'org' }, ...message } });
  expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
}

/**
 * Fills the ingress's queues the way production does: two events stored (completed), one that
 * failed for good (a dead letter), one still waiting for a worker, and a notification delayed for
 * an hour, so that every kind of job a dashboard or DLQ action could touch is there.
 */
export async function seedJobs(ingress: FastifyInstance, redis: RedisClient, prefix: string): Promise<SeededJobs> {
  await postEvent(ingress, { type: 'status-update', status: 'ringing' });
  await postEvent(ingress, { type: 'hang' });
  await postEvent(ingress, { type: 'status-update', status: 'in-progress' });
  const worker = new Worker(
    eventsQueue.name,
    async (job) => {
      if (job.name === 'hang') throw new UnrecoverableError('Database error 22003 on vapi_sessions: the event itself cannot be stored');
    },
    { connection: redis, prefix },
  );
  await waitFor(
    async () => (await ingress.queues.events.getJobCounts('failed', 'completed')).completed === 2 && (await ingress.queues.events.getFailed()).length === 1,
  );
  await worker.close();
  await postEvent(ingress, { type: 'status-update', status: 'forwarding' });
  const meta = { notificationId: 1, type: 'session-end', sessionId: 'call-delayed', endpoint: 'https://hooks.example/calls' };
  const body = { type: 'session-end', sessionId: 'call-delayed', patientId: null, timestamp: new Date().toISOString(), data: {} };
  await ingress.queues.notifications.add('session-end', ingress.jobCodec.seal(notificationsQueue, meta, body), { delay: 3_600_000 });
  return { failedId: (await ingress.queues.events.getFailed())[0]!.id! };
}

/** An ingress listening on a free port of 127.0.0.1 with its queues seeded (above), closed at the resources' next reset. */
export async function startSeededIngress({ redis, track }: ReturnType<typeof integrationResources>, overrides: Record<string, string> = {}) {
  const config = testConfig(overrides);
  const [ingress] = track(await buildIngressApp({ config, logger: silentLogger() }));
  await ingress.listen({ host: '127.0.0.1', port: 0 });
  return { config, ingress, seeded: await seedJobs(ingress, redis, config.queuePrefix) };
}

/** Everything an admin action could read or change: each queue's jobs as Redis holds them, whether it is paused, and the audit rows. */
export async function adminState(queues: CatalogQueues, handle: DatabaseHandle) {
  const perQueue = await Promise.all(
    Object.entries(queues).map(async ([key, queue]) => {
      const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'waiting-children']);
      const described = await Promise.all(
        jobs.map(async (job) => ({
          id: job.id,
          name: job.name,
          state: await job.getState(),
          data: job.data,
          attemptsMade: job.attemptsMade,
          failedReason: job.failedReason,
          finishedOn: job.finishedOn,
          delay: job.delay,
          priority: job.priority,
        })),
      );
      return { key, paused: await queue.isPaused(), jobs: described.sort((a, b) => String(a.id).localeCompare(String(b.id))) };
    }),
  );
  return { queues: perQueue, auditEvents: await handle.db.select().from(auditEvents) };
}

/**
 * Every admin route the app registered (its own and bull-board's, read from the router), each
 * method once, with its parameters filled in so that a request that got through would do its work
 * on a real job, plus a path no route matches.
 */
export function adminTargets(app: FastifyInstance, { failedId }: SeededJobs): AdminTarget[] {
  const values: Record<string, string> = {
    queueName: eventsQueue.name,
    jobId: failedId,
    queueStatus: 'failed',
    schedulerId: 'any',
    queue: 'events',
    id: failedId,
  };
  const fill = (path: string) => path.replace(/:(\w+)/g, (_, name: string) => values[name] ?? 'x').replace(/\*$/, 'static/images/logo.svg');
  const routes = registeredRoutes(app).filter((route) => route.path.startsWith('/admin'));
  return [...routes.flatMap((route) => route.methods.map((method) => ({ method, path: fill(route.path) }))), { method: 'GET', path: '/admin/no-such-route' }];
}

/** A body that would do the most damage if a state-changing request got through: everything, at once. */
export const DAMAGING_BODY = JSON.stringify({
  all: true,
  data: { rewritten: true },
  delay: 0,
  priority: 1,
  name: 'injected',
  url: 'https://evil.example/hook',
});

/** The body a request of this method carries: none for a read, the most damaging one otherwise. */
export const bodyFor = (method: string) => (method === 'GET' || method === 'HEAD' ? undefined : DAMAGING_BODY);

/**
 * Sends every spelling (below) of every target to `port` over raw sockets, 16 connections at a time,
 * and returns how many requests went out and the answers whose status is not in `allowed`.
 */
export async function sendEverySpelling(port: number, targets: AdminTarget[], allowed: number[], headers: Record<string, string> = {}) {
  const requests = targets.flatMap(({ method, path }) => spellings(path, port).map((target) => ({ method, target })));
  const unexpected: { method: string; target: string; status: number }[] = [];
  for (let i = 0; i < requests.length; i += 16) {
    const batch = requests.slice(i, i + 16);
    const answers = await Promise.all(batch.map(({ method, target }) => rawRequest(port, { method, target, headers, body: bodyFor(method) })));
    answers.forEach(({ status }, j) => allowed.includes(status) || unexpected.push({ ...batch[j]!, status }));
  }
  return { sent: requests.length, unexpected };
}

const percent = (char: string, upper = false) => {
  const hex = char.charCodeAt(0).toString(16);
  return `%${upper ? hex.toUpperCase() : hex}`;
};

/**
 * Every spelling of an admin path that a router, a proxy or a normaliser might resolve to the same
 * route: percent-encoded letters (either case of hex), the word and the path fully encoded, encoded
 * and doubled slashes, other letter cases, dot segments (plain and encoded), absolute-form targets,
 * `;` parameters, trailing slashes, queries and fragments, double encoding and a NUL.
 */
function spellings(path: string, port: number): string[] {
  const rest = path.slice('/admin'.length);
  const word = 'admin';
  const at = (spelled: string) => `/${spelled}${rest}`;
  const each = [...word].flatMap((char, i) => [false, true].map((upper) => at(word.slice(0, i) + percent(char, upper) + word.slice(i + 1))));
  const encodedPath = [...path].map((char) => (char === '/' ? char : percent(char))).join('');
  return [
    ...new Set([
      path,
      ...each,
      at([...word].map((char) => percent(char)).join('')),
      at([...word].map((char) => percent(char, true)).join('')),
      encodedPath,
      `/admin${rest.replaceAll('/', '%2F')}`,
      `/admin${rest.replaceAll('/', '%2f')}`,
      path.replaceAll('/', '%2F'),
      at('ADMIN'),
      at('Admin'),
      at('aDmIn'),
      `/${path}`,
      rest ? `/admin/${rest}` : `${path}//`,
      `/.${path}`,
      `/x/..${path}`,
      `/admin/.${rest}`,
      `/%2e${path}`,
      `/x/%2e%2e${path}`,
      `/x/%2E%2E${path}`,
      `/admin/%2e${rest}`,
      `http://x${path}`,
      `HTTP://X${path}`,
      `http://127.0.0.1:${port}${path}`,
      `http://127.0.0.1:${port}${at('%61dmin')}`,
      `/admin;x${rest}`,
      `${path};x`,
      `${path}/`,
      `${path}?`,
      `${path}?queue=events&all=true`,
      `${path}#x`,
      at('%2561dmin'),
      `/admin%00${rest}`,
    ]),
  ];
}
