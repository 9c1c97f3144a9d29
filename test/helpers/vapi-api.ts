import { createServer, type ServerResponse } from 'node:http';
import type { Vapi } from '@vapi-ai/server-sdk';

/** One answer of the stand-in API: a status with a JSON body and headers, or no answer at all. */
export type ApiAnswer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang';

/** One `GET /call/{id}` the stand-in received. */
export interface ApiRequest {
  at: number;
  callId: string;
  authorization: string | undefined;
}

/**
 * A local HTTP server answering as Vapi's REST API does for `GET /call/{id}`: each call id answers
 * with the next of its scripted answers (the last one repeats), 404 for an id with no script.
 * `hanging` counts requests held without an answer; `close` ends them.
 */
export async function startVapiApi() {
  const scripts = new Map<string, ApiAnswer[]>();
  const requests: ApiRequest[] = [];
  const held = new Set<ServerResponse>();
  const server = createServer((request, response) => {
    const match = /^\/call\/([^/?]+)$/.exec(request.url ?? '');
    if (request.method !== 'GET' || !match) return void response.writeHead(404).end();
    const callId = decodeURIComponent(match[1]!);
    const asked = requests.filter((r) => r.callId === callId).length;
    requests.push({ at: Date.now(), callId, authorization: request.headers.authorization });
    const script = scripts.get(callId) ?? [{ status: 404, body: { message: 'Not Found', statusCode: 404 } }];
    const answer = script[Math.min(asked, script.length - 1)]!;
    if (answer === 'hang') {
      held.add(response);
      response.on('close', () => held.delete(response));
      return;
    }
    response.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(JSON.stringify(answer.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    /** Requests held open right now. */
    hanging: () => held.size,
    answer(callId: string, ...answers: ApiAnswer[]) {
      scripts.set(callId, answers);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of held) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type VapiApi = Awaited<ReturnType<typeof startVapiApi>>;

/** An ended call as `GET /call/{id}` returns it (`Vapi.Call`): its artifact's transcript and messages, analysis, times, cost. */
export function endedCall(id: string, { patientId, start = Date.parse('2026-11-20T15:00:00.000Z') }: { patientId?: string; start?: number } = {}): Vapi.Call {
  const iso = (offsetS: number) => new Date(start + offsetS * 1000).toISOString();
  return {
    id,
    orgId: 'org-clinic',
    type: 'inboundPhoneCall',
    status: 'ended',
    endedReason: 'customer-ended-call',
    assistantId: 'asst-front-desk',
    phoneNumberId: 'pn-main-line',
    customer: { number: '+15550100001' },
    ...(patientId ? { metadata: { patientId } } : {}),
    createdAt: iso(-2),
    updatedAt: iso(80),
    startedAt: iso(0),
    endedAt: iso(65),
    cost: 0.1234,
    costs: [{ type: 'model', model: { provider: 'openai', model: 'gpt-4o' }, promptTokens: 900, completionTokens: 120, cost: 0.05 }] as Vapi.CallCostsItem[],
    analysis: { summary: 'The patient booked a check-up for Tuesday at 10.', successEvaluation: 'true' },
    artifact: {
      transcript: 'AI: Hello, Riverside Clinic.\nUser: I would like a check-up on Tuesday.\nAI: Booked for Tuesday at 10.',
      messages: [
        { role: 'system', message: 'You are the clinic assistant.', time: start, secondsFromStart: 0 },
        { role: 'bot', message: 'Hello, Riverside Clinic.', time: start + 1_000, endTime: start + 2_000, secondsFromStart: 1 },
        { role: 'user', message: 'I would like a check-up on Tuesday.', time: start + 3_000, endTime: start + 5_000, secondsFromStart: 3 },
        { role: 'bot', message: 'Booked for Tuesday at 10.', time: start + 6_000, endTime: start + 8_000, secondsFromStart: 6 },
      ] as Vapi.ArtifactMessagesItem[],
    },
  };
}
