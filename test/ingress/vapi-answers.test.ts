import type { Vapi } from '@vapi-ai/server-sdk';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { deleteKeys } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';

const stamp = '2026-11-20T15:00:00.000Z';
const call: Vapi.Call = { id: 'call-answers', orgId: 'org-clinic', createdAt: stamp, updatedAt: stamp };
const chat: Vapi.Chat = { id: 'chat-answers', orgId: 'org-clinic', createdAt: stamp, updatedAt: stamp };
const toolCall: Vapi.ToolCall = { id: 'tc-1', type: 'function', function: { name: 'check_availability', arguments: '{"date":"2026-11-23"}' } };

/**
 * Every Vapi message that waits for an answer, typed by Vapi's own server SDK (so the fixtures
 * typecheck against it), each with a check that the answer holds what its response type requires.
 */
const cases: { message: Vapi.ServerMessageMessage; answers: (body: Record<string, unknown>) => void }[] = [
  {
    message: { type: 'assistant-request', call },
    answers: (body: Vapi.ServerMessageResponseAssistantRequest) => expect(body.assistantId ?? body.error).toEqual(expect.any(String)),
  },
  {
    message: { type: 'transfer-destination-request', call },
    answers: (body: Vapi.ServerMessageResponseTransferDestinationRequest) => expect(body.destination ?? body.error).toBeTruthy(),
  },
  {
    message: { type: 'handoff-destination-request', call, parameters: {} },
    answers: (body) => {
      const answer = body as unknown as Vapi.ServerMessageResponseHandoffDestinationRequest;
      expect(answer.destination).toEqual(expect.any(Object));
    },
  },
  {
    message: { type: 'knowledge-base-request', call, messagesOpenAIFormatted: [{ role: 'user', content: 'Opening hours?' }] },
    answers: (body: Vapi.ServerMessageResponseKnowledgeBaseRequest) => expect(Array.isArray(body.documents) || body.message !== undefined).toBe(true),
  },
  {
    message: { type: 'call.endpointing.request', call, messagesOpenAIFormatted: [{ role: 'user', content: 'I would like' }] },
    answers: (body) => expect((body as unknown as Vapi.ServerMessageResponseCallEndpointingRequest).timeoutSeconds).toEqual(expect.any(Number)),
  },
  {
    message: {
      type: 'campaign.predial',
      call,
      campaignId: 'camp-1',
      contact: { id: 'contact-1', campaignId: 'camp-1', orgId: 'org-clinic', number: '+15550100001', createdAt: stamp },
    },
    answers: (body) => expect((body as unknown as Vapi.ServerMessageResponseCampaignPredial).eligible).toEqual(expect.any(Boolean)),
  },
  {
    message: { type: 'voice-request', call, text: 'Hello', sampleRate: 16000 },
    answers: (body) => expect((body as unknown as Vapi.ServerMessageResponseVoiceRequest).data).toEqual(expect.any(String)),
  },
  {
    message: { type: 'tool-calls', call, toolCallList: [toolCall], toolWithToolCallList: [{ type: 'function', toolCall }] },
    answers: (body) => expectToolResults(body as Vapi.ServerMessageResponseToolCalls),
  },
  {
    // A chat has no call: its tool calls are answered all the same.
    message: { type: 'tool-calls', chat, toolCallList: [toolCall], toolWithToolCallList: [{ type: 'function', toolCall }] },
    answers: (body) => expectToolResults(body as Vapi.ServerMessageResponseToolCalls),
  },
  {
    // Neither call nor chat: Vapi's dashboard tool tester. Answered all the same (here by the deadline: no worker runs).
    message: { type: 'tool-calls', toolCallList: [toolCall], toolWithToolCallList: [{ type: 'function', toolCall }] },
    answers: (body) => expectToolResults(body as Vapi.ServerMessageResponseToolCalls),
  },
];

function expectToolResults(body: Vapi.ServerMessageResponseToolCalls) {
  expect(body.results).toHaveLength(1);
  const [result] = body.results!;
  expect(result).toMatchObject({ toolCallId: 'tc-1', name: 'check_availability' });
  const text = result!.result ?? result!.error;
  expect(text).toEqual(expect.any(String));
  expect(text).not.toContain('\n');
}

const { redis, track, reset, close } = integrationResources();
let config: Config;
let app: FastifyInstance;

// One ingress for the whole file (its tests only post): its keys go after each test, the app after the file.
beforeAll(async () => {
  config = testConfig({ TOOL_DEADLINE_MS: '1000' });
  [app] = track(await buildIngressApp({ config, logger: silentLogger() }));
  await app.ready();
});
afterEach(() => deleteKeys(redis, config.queuePrefix));
afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

describe("answers typed by Vapi's server SDK", () => {
  const nameOf = (message: Vapi.ServerMessageMessage) => ('chat' in message && message.chat ? ' (chat)' : message.call ? '' : ' (no call)');
  it.each(cases.map((c) => [c.message.type + nameOf(c.message), c] as const))(
    '%s gets a 200 with every field its response type requires',
    async (_name, { message, answers }) => {
      const raw = JSON.stringify({ message: { timestamp: Date.parse(stamp), ...message } });
      const response = await app.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      answers(response.json());
    },
  );
});
