import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { track, reset, close } = integrationResources();
const config = testConfig({ TOOL_DEADLINE_MS: '3000' });

/** The value of the series of `name` carrying all of `labels` (in any order), or undefined. */
const valueOf = (text: string, name: string, labels: Record<string, string>) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([key, value]) => l.includes(`${key}="${value}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

describe('/metrics on every role', () => {
  it("exposes the operators' families, and they move when traffic flows", async () => {
    const ingress = await buildIngressApp({ config, logger: silentLogger() });
    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    const relay = await buildRelayApp({ config, logger: silentLogger() });
    track(ingress, worker, relay);
    await Promise.all([ingress.ready(), worker.ready(), relay.ready()]);
    const scrape = async (app: FastifyInstance) => (await app.inject({ url: '/metrics' })).body;

    const call = realisticCall({ patientId: 'pat-metrics' });
    for (const body of call.events) {
      const raw = JSON.stringify(body);
      expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
    }
    const forged = JSON.stringify({ message: { type: `made-up-${randomUUID()}`, call: { id: 'x' } } });
    await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: forged, headers: { 'x-vapi-signature': 'ab'.repeat(32) } });
    const odd = JSON.stringify({ message: { type: `made-up-${randomUUID()}`, call: { id: 'y' } } });
    await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: odd, headers: hmacHeaders(odd) });

    const ingressText = await scrape(ingress);
    expect(valueOf(ingressText, 'vapi_relay_webhook_requests_total', { type: 'status-update', outcome: 'queued' })).toBe(4);
    expect(valueOf(ingressText, 'vapi_relay_webhook_requests_total', { type: 'other', outcome: 'queued' })).toBe(1);
    expect(ingressText).not.toContain('made-up-');
    expect(valueOf(ingressText, 'vapi_relay_webhook_auth_failures_total', { reason: 'signature mismatch' })).toBe(1);
    expect(valueOf(ingressText, 'vapi_relay_enqueue_duration_seconds_count', { lane: 'durable' })).toBeGreaterThan(0);
    expect(valueOf(ingressText, 'vapi_relay_enqueue_duration_seconds_count', { lane: 'live' })).toBeGreaterThan(0);
    expect(valueOf(ingressText, 'vapi_relay_queue_jobs', { queue: 'vapi-events', state: 'failed' })).toBe(0);
    expect(valueOf(ingressText, 'vapi_relay_queue_oldest_waiting_seconds', { queue: 'vapi-events' })).toBeGreaterThanOrEqual(0);

    await waitFor(
      async () =>
        (valueOf(await scrape(worker), 'vapi_relay_jobs_processed_total', { queue: 'vapi-events', name: 'end-of-call-report', outcome: 'processed' }) ?? 0) >=
        1,
    );
    const workerText = await scrape(worker);
    // Live partials count as relayed (by the call's binding), or claimed (by its metadata, before the binding): either way they were taken.
    const live = ['relayed', 'claimed', 'unbound'].map(
      (outcome) => valueOf(workerText, 'vapi_relay_jobs_processed_total', { queue: 'vapi-live', name: 'transcript', outcome }) ?? 0,
    );
    expect(live.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
    expect(valueOf(workerText, 'vapi_relay_job_duration_seconds_count', { queue: 'vapi-events' })).toBeGreaterThan(0);
    expect(valueOf(workerText, 'vapi_relay_outbox_lag_seconds', { outbox: 'relay' })).toBeGreaterThanOrEqual(0);
    expect(workerText).toContain('vapi_relay_job_retries_total');
    expect(workerText).toContain('vapi_relay_notification_attempts_total');

    const relayText = await scrape(relay);
    expect(valueOf(relayText, 'vapi_relay_ws_connections', {})).toBe(0);
    expect(relayText).toContain('vapi_relay_delivery_lag_seconds');
    for (const text of [ingressText, workerText, relayText]) expect(text).not.toMatch(new RegExp(call.callId));
  });
});
