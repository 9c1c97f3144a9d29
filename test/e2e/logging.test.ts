import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { vapiSessions } from '#shared/db/schema';
import { createLogger } from '#shared/logger';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { isLiveOnlyBody, realisticCall } from '../fixtures/vapi-call.ts';
import { testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, track, reset, close } = integrationResources();
afterAll(close);

describe('logs', () => {
  it('hold one line per webhook with its ids, outcome and latency, and no health data at any level', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      level: 'trace',
      service: 'test',
      pretty: false,
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const config = testConfig();
    await reset(config.queuePrefix);
    const [ingress, worker] = track(await buildIngressApp({ config, logger }), await buildWorkerApp({ config, logger }));
    await worker.ready();

    const call = realisticCall({ customerNumber: '+15550142424' });
    for (const body of call.events) {
      const raw = JSON.stringify(body);
      expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
    }
    await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: '{"message":{}}', headers: { 'x-vapi-signature': 'ab' } });
    await waitFor(async () => (await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, call.callId)))[0]?.transcriptSummary);
    const durable = call.events.filter((body) => !isLiveOnlyBody(body)).length;
    await waitFor(async () => (await ingress.queues.events.getJobCounts('completed')).completed === durable);
    // Closed before the lines are read, so that every line is in.
    await reset(config.queuePrefix);

    const webhookLines = lines.filter((line) => line.msg === 'webhook');
    expect(webhookLines).toHaveLength(call.events.length + 1);
    for (const line of webhookLines.slice(0, -1)) {
      expect(line).toMatchObject({ role: 'ingress', callId: call.callId, status: 200 });
      expect(['queued', 'live']).toContain(line.outcome);
      expect(line).toHaveProperty('reqId');
      expect(line).toHaveProperty('type');
      expect(typeof line.ms).toBe('number');
    }
    expect(webhookLines.at(-1)).toMatchObject({ outcome: 'unauthenticated', status: 401, reason: 'signature mismatch' });

    const text = JSON.stringify(lines);
    const phi = [...call.finalTranscripts.map(([, t]) => t), '5550142424', 'Dr. Okafor', 'stereo.wav', 'Riverside'];
    for (const secret of [...phi, config.vapi.secrets[0]!]) expect(text).not.toContain(secret);
  });
});
