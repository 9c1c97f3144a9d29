import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Parser, type Diagnostic } from '@asyncapi/parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { readEnvelope } from '#shared/vapi/envelope';
import { liveJobOf } from '#shared/vapi/live';
import { buildRelayApp } from '../../services/relay/app.ts';
import { createToolRunner } from '../../services/worker/lib/tool-runner.ts';
import { TOOLS } from '../../services/worker/tools/registry.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { callStore } from './history-harness.ts';
import { eventWriter, openClient, streamUrl, tokenFor } from './relay-harness.ts';

const DOCUMENT = readFileSync(new URL('../../docs/relay-asyncapi.yaml', import.meta.url), 'utf8');
/** Spectral's severities: 0 is an error; warnings, hints and advice (a newer AsyncAPI exists) are not. */
const ERROR = 0;

const resources = integrationResources();
let config: Config;
let relay: FastifyInstance;
/** Everything a real relay sent a real socket, in order. */
let received: Record<string, unknown>[] = [];

const parser = new Parser();
const errorsOf = (diagnostics: Diagnostic[]) => diagnostics.filter((d) => d.severity === ERROR).map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`);

/** The document's message a relay message is an instance of. */
function messageNameOf(message: Record<string, unknown>): string {
  if (message.type === 'error') return 'error';
  if (message.type === 'transcript' && message.seq === undefined) return 'partial_transcript';
  return message.type as string;
}

/** The document with each of its messages' examples replaced by the given payloads (messages not named keep theirs). */
async function withExamples(payloads: Record<string, unknown>[][], names: string[]) {
  const { document } = await parser.parse(DOCUMENT);
  const json = structuredClone(document!.json()) as Record<string, unknown> & { components: { messages: Record<string, { examples?: unknown[] }> } };
  // Without its marks of a parsed document, the parser validates it again instead of taking it as read.
  for (const mark of Object.keys(json).filter((key) => key.startsWith('x-parser-'))) delete json[mark];
  names.forEach((name, i) => (json.components.messages[name]!.examples = payloads[i]!.map((payload, n) => ({ name: `${name}-${n}`, payload }))));
  return parser.parse(json as never);
}

beforeAll(async () => {
  config = testConfig();
  relay = await buildRelayApp({ config, logger: silentLogger() });
  resources.track(relay);
  await relay.listen({ host: '127.0.0.1', port: 0 });
  const store = callStore(config, resources.handle);
  const patient = `pat-${randomUUID()}`;

  // A whole call, a tool the assistant ran and an error, stored the way the worker stores them.
  const call = realisticCall({ patientId: patient });
  for (const body of call.events) await store.store(body);
  const runTool = createToolRunner({ db: resources.handle.db, cipher: store.cipher, tools: TOOLS, onCommit: () => undefined, logger: silentLogger() });
  const context = { sessionId: call.callId, origin: { identity: { claimedPatientId: patient }, source: 'vapi' } };
  const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  await runTool(
    { sessionId: call.callId, toolCallId: 'tc-1', name: 'check_availability', deadline: Date.now() + 15_000, requestId: 'test' },
    { arguments: { date }, context },
  );
  await store.store({ type: 'error', data: { sessionId: call.callId, code: 'PIPELINE_ERROR', message: 'The call could not continue' } });

  const client = await openClient(streamUrl(relay), tokenFor(config, patient));
  try {
    client.subscribe(call.callId, 0);
    await client.until(() => client.received.some((m) => m.type === 'session_error'));
    // Live-only events, built by the live lane's own builder, through the patient's channel.
    const live = call.events.flatMap((body) => liveJobOf(readEnvelope(body)!, new Date())?.event ?? []);
    await eventWriter(config, resources.handle, resources.redis).publish(patient, live);
    await client.until(() => client.received.filter((m) => m.seq === undefined && m.type !== 'error').length === live.length);
    client.ws.send('{"type":"hello"}');
    client.subscribe(`someone-else-${randomUUID()}`, 0);
    await client.until(() => client.received.filter((m) => m.type === 'error').length === 2);
    received = [...client.received];
  } finally {
    client.ws.terminate();
  }
}, 30_000);
afterAll(async () => {
  await resources.reset(config.queuePrefix);
  await resources.close();
});

describe('docs/relay-asyncapi.yaml', () => {
  it('is a valid AsyncAPI document whose own examples match their payload schemas', async () => {
    const { document, diagnostics } = await parser.parse(DOCUMENT);
    expect(errorsOf(diagnostics)).toEqual([]);
    expect(document?.version()).toMatch(/^2\.6\./);
    expect(
      document!
        .channels()
        .all()
        .map((channel) => channel.address()),
    ).toEqual(['/v1/stream']);
  }, 30_000);

  it('describes every message a real relay sends, and each one validates against its schema', async () => {
    const byName = new Map<string, Record<string, unknown>[]>();
    for (const message of received) byName.set(messageNameOf(message), [...(byName.get(messageNameOf(message)) ?? []), message]);
    const { document } = await parser.parse(DOCUMENT);
    const documented = document!
      .components()
      .messages()
      .all()
      .map((message) => message.id());
    // Every kind the relay sends is documented, and every documented kind but the app's own subscribe was seen.
    expect([...byName.keys()].sort()).toEqual(documented.filter((name) => name !== 'subscribe').sort());

    const names = [...byName.keys()];
    const checked = await withExamples(
      names.map((name) => byName.get(name)!),
      names,
    );
    expect(errorsOf(checked.diagnostics)).toEqual([]);
    // The check has teeth: a message that breaks its schema is caught.
    const broken = { ...byName.get('transcript')![0]!, seq: 'one' };
    const refused = await withExamples([[broken]], ['transcript']);
    expect(errorsOf(refused.diagnostics).join('\n')).toMatch(/asyncapi2-message-examples at components\.messages\.transcript/);
  }, 60_000);
});
