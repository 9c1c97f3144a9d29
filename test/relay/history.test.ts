import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { auditEvents, vapiSessions } from '#shared/db/schema';
import { createLogger } from '#shared/logger';
import { buildRelayApp } from '../../services/relay/app.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { testConfig } from '../helpers/config.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { integrationResources } from '../helpers/resources.ts';
import { callStore, historyClient, type HistoryAnswer } from './history-harness.ts';
import { craftToken, openClient, streamUrl, tokenFor } from './relay-harness.ts';

const resources = integrationResources();
const { handle } = resources;
let config: Config;
let relay: FastifyInstance;
let get: ReturnType<typeof historyClient>;
let store: ReturnType<typeof callStore>;
const answers: HistoryAnswer[] = [];
/** Everything the relay logged, at debug level: none of it may hold a transcript. */
const logLines: string[] = [];

const A = `pat-a-${randomUUID()}`;
const B = `pat-b-${randomUUID()}`;
const T0 = Date.parse('2026-11-20T09:00:00.000Z');
const HOUR = 3_600_000;
const sessionsOfA: string[] = [];
let sessionOfB: string;
/** A session of A whose transcript was stored out of order: utterances and their (shuffled) timestamps. */
let outOfOrder: { id: string; spoken: { text: string; at: string }[] };

const SECRET_WORDS = ['Okafor', 'nineteen eighty-four', 'move my appointment', 'utterance-'];

/** GET as `patient`, keeping every answer for the header checks at the end. */
async function read(path: string, token?: string, headers?: Record<string, string>) {
  const answer = await get(path, token, headers);
  answers.push(answer);
  return answer;
}
const tokenOf = (patientId: string, sessionId?: string) => tokenFor(config, patientId, sessionId ? { sessionId } : {});

/** Every page of a list, following nextCursor; fails on a page that is not a 200. */
async function allPages(path: string, key: string, token: string, limit: number) {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const answer = await read(`${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, token);
    expect(answer.status, answer.text).toBe(200);
    const got = answer.json[key] as Record<string, unknown>[];
    expect(got.length).toBeLessThanOrEqual(limit);
    items.push(...got);
    cursor = answer.json.nextCursor as string | null;
    if (cursor === null) return items;
  }
  throw new Error('paging never ended');
}

beforeAll(async () => {
  config = testConfig();
  relay = await buildRelayApp({
    config,
    logger: createLogger({ level: 'debug', service: 'test', pretty: false, destination: { write: (line: string) => void logLines.push(line) } }),
  });
  resources.track(relay);
  await relay.listen({ host: '127.0.0.1', port: 0 });
  get = historyClient(relay);
  store = callStore(config, handle);
  // Stored out of the order they began in; two of them began at the very same moment.
  const starts = [T0 + 3 * HOUR, T0, T0 + 2 * HOUR, T0 + 5 * HOUR, T0 + 2 * HOUR, T0 + HOUR, T0 + 4 * HOUR];
  for (const startMs of starts) sessionsOfA.push(await store.call({ patientId: A, startMs }));
  sessionOfB = await store.call({ patientId: B, startMs: T0 + 6 * HOUR });

  // A call in progress whose utterances reach the worker in another order than they were spoken, two at one instant.
  const call = realisticCall({ patientId: A, startMs: T0 + 7 * HOUR });
  for (const body of call.events.slice(0, 3)) await store.store(body);
  const spoken = Array.from({ length: 9 }, (_, i) => ({
    text: `utterance-${i} about Dr. Okafor`,
    at: new Date(T0 + 7 * HOUR + 10_000 + Math.min(i, 7) * 1_000).toISOString(),
  }));
  for (const i of [4, 0, 8, 2, 6, 1, 7, 3, 5]) {
    await store.store({
      type: 'message',
      data: { sessionId: call.callId, role: i % 2 ? 'user' : 'assistant', content: spoken[i]!.text, timestamp: spoken[i]!.at },
    });
  }
  outOfOrder = { id: call.callId, spoken };
  sessionsOfA.push(call.callId);
});
afterAll(async () => {
  await resources.reset(config.queuePrefix);
  await resources.close();
});

describe('GET /v1/sessions', () => {
  it("lists the patient's sessions only, newest first, across pages without a duplicate or a gap", async () => {
    const expected = await handle.db
      .select({ id: vapiSessions.id })
      .from(vapiSessions)
      .where(eq(vapiSessions.patientId, A))
      .orderBy(desc(sql`coalesce(${vapiSessions.startedAt}, ${vapiSessions.createdAt})`), desc(vapiSessions.id));
    for (const limit of [1, 2, 3, 100]) {
      const listed = await allPages('/v1/sessions', 'sessions', tokenOf(A), limit);
      expect(listed.map((s) => s.id)).toEqual(expected.map((s) => s.id));
    }
    expect(new Set(expected.map((s) => s.id))).toEqual(new Set(sessionsOfA));
    const listed = await allPages('/v1/sessions', 'sessions', tokenOf(A), 3);
    const starts = listed.map((s) => s.startedAt as string);
    expect([...starts].sort().reverse()).toEqual(starts);
    expect(new Set(starts).size).toBe(starts.length - 1);
  });

  it('shows each session with its decrypted summary, times and lastSeq, in the contract shape', async () => {
    const answer = await read('/v1/sessions?limit=100', tokenOf(B));
    expect(answer.status).toBe(200);
    const [session] = answer.json.sessions as Record<string, unknown>[];
    const [row] = await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, sessionOfB));
    expect(answer.json).toEqual({
      sessions: [
        {
          id: sessionOfB,
          status: 'completed',
          startedAt: row!.startedAt!.toISOString(),
          endedAt: row!.endedAt!.toISOString(),
          endedReason: 'customer-ended-call',
          summary: store.cipher.decrypt(row!.transcriptSummary!),
          durationSeconds: row!.keyInsights!.durationSeconds,
          lastSeq: row!.lastSeq,
        },
      ],
      nextCursor: null,
    });
    expect(session!.summary).toContain('Dr. Okafor');
    expect(row!.lastSeq).toBeGreaterThan(0);
  });

  it('with a sid token lists that one session only', async () => {
    const answer = await read('/v1/sessions', tokenOf(A, sessionsOfA[2]));
    expect((answer.json.sessions as { id: string }[]).map((s) => s.id)).toEqual([sessionsOfA[2]]);
    expect(answer.json.nextCursor).toBeNull();
  });

  it("refuses a cursor that was changed, made up, or given out for another patient's list", async () => {
    const first = await read('/v1/sessions?limit=2', tokenOf(A));
    const cursor = first.json.nextCursor as string;
    const flipped = `${cursor.slice(0, -3)}${cursor.at(-3) === 'A' ? 'B' : 'A'}${cursor.slice(-2)}`;
    const ofB = (await read('/v1/sessions?limit=2', tokenOf(A, sessionsOfA[0]))).json.nextCursor;
    expect(ofB).toBeNull();
    const messagesCursor = (await read(`/v1/sessions/${outOfOrder.id}/messages?limit=1`, tokenOf(A))).json.nextCursor as string;
    for (const bad of [flipped, 'garbage', 'v1.abc.def', messagesCursor]) {
      const answer = await read(`/v1/sessions?cursor=${encodeURIComponent(bad)}`, tokenOf(A));
      expect(answer.status, bad).toBe(400);
      expect(answer.json).toMatchObject({ success: false, code: 'INVALID_REQUEST' });
    }
    const theirs = await read(`/v1/sessions?cursor=${encodeURIComponent(cursor)}`, tokenOf(B));
    expect(theirs.status).toBe(400);
  });
});

describe('GET /v1/sessions/:id', () => {
  it('answers the session in full: turns, tools used, duration, decrypted summary', async () => {
    const id = sessionsOfA[0]!;
    const answer = await read(`/v1/sessions/${id}`, tokenOf(A));
    expect(answer.status).toBe(200);
    const [row] = await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, id));
    expect(answer.json).toEqual({
      id,
      status: 'completed',
      startedAt: row!.startedAt!.toISOString(),
      endedAt: row!.endedAt!.toISOString(),
      endedReason: 'customer-ended-call',
      summary: store.cipher.decrypt(row!.transcriptSummary!),
      durationSeconds: row!.keyInsights!.durationSeconds,
      turns: { user: 2, assistant: 2 },
      toolsUsed: ['lookup_patient_info'],
      lastSeq: row!.lastSeq,
    });
  });

  it('answers a call in progress from what is stored so far', async () => {
    const answer = await read(`/v1/sessions/${outOfOrder.id}`, tokenOf(A));
    expect(answer.json).toMatchObject({
      status: 'in-progress',
      summary: null,
      endedAt: null,
      durationSeconds: null,
      turns: { user: 4, assistant: 5 },
      toolsUsed: [],
    });
  });
});

describe('GET /v1/sessions/:id/messages', () => {
  it('pages the transcript in the order it was spoken, whatever order it was stored in', async () => {
    const inOrder = [...outOfOrder.spoken].sort((x, y) => x.at.localeCompare(y.at));
    for (const limit of [1, 2, 4, 500]) {
      const messages = await allPages(`/v1/sessions/${outOfOrder.id}/messages`, 'messages', tokenOf(A), limit);
      expect(messages.map((m) => m.timestamp)).toEqual(inOrder.map((m) => m.at));
      expect(new Set(messages.map((m) => m.transcript))).toEqual(new Set(outOfOrder.spoken.map((m) => m.text)));
      expect(messages.every((m) => (m.role === 'user') === /utterance-[1357] /.test(m.transcript as string))).toBe(true);
    }
  });

  it('answers an ended call with its final transcript, roles and times', async () => {
    const answer = await read(`/v1/sessions/${sessionOfB}/messages`, tokenOf(B));
    const messages = answer.json.messages as { role: string; transcript: string; timestamp: string }[];
    expect(messages.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'user']);
    expect(messages[3]!.transcript).toBe('March third, nineteen eighty-four.');
    expect(Object.keys(messages[0]!)).toEqual(['role', 'transcript', 'timestamp']);
    expect(answer.json.nextCursor).toBeNull();
  });
});

describe('GET /v1/sessions/:id/events', () => {
  it('answers the events after a seq exactly as the socket replays them', async () => {
    const id = sessionsOfA[3]!;
    const http = await read(`/v1/sessions/${id}/events?afterSeq=2&limit=500`, tokenOf(A));
    expect(http.status).toBe(200);
    const { events, lastSeq } = http.json as { events: Record<string, unknown>[]; lastSeq: number };
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastSeq - 2 }, (_, i) => i + 3));

    const client = await openClient(streamUrl(relay), tokenOf(A));
    try {
      client.subscribe(id, 2);
      await client.until(() => client.seqs(id).at(-1) === lastSeq);
      expect(client.received.filter((m) => m.sessionId === id)).toEqual(events);
    } finally {
      client.ws.terminate();
    }

    const page = await read(`/v1/sessions/${id}/events?afterSeq=2&limit=3`, tokenOf(A));
    expect(page.json).toEqual({ events: events.slice(0, 3), lastSeq });
    const past = await read(`/v1/sessions/${id}/events?afterSeq=${lastSeq}`, tokenOf(A));
    expect(past.json).toEqual({ events: [], lastSeq });
  });
});

describe('who sees what', () => {
  it("answers another patient's session, its messages and events exactly like one that does not exist", async () => {
    const missing = randomUUID();
    for (const suffix of ['', '/messages', '/events', '/messages?limit=5', '/events?afterSeq=1']) {
      const theirs = await read(`/v1/sessions/${sessionsOfA[0]}${suffix}`, tokenOf(B));
      const none = await read(`/v1/sessions/${missing}${suffix}`, tokenOf(B));
      expect(theirs.status).toBe(404);
      expect(theirs.text).toBe(none.text);
      expect(JSON.parse(theirs.text)).toEqual({ success: false, code: 'NOT_FOUND', message: 'no such session' });
      expect(theirs.headers.get('content-type')).toBe(none.headers.get('content-type'));
      expect(theirs.headers.get('content-length')).toBe(none.headers.get('content-length'));
    }
  });

  it('with a sid token, every other session of the same patient is not found', async () => {
    const token = tokenOf(A, sessionsOfA[1]);
    expect((await read(`/v1/sessions/${sessionsOfA[1]}`, token)).status).toBe(200);
    for (const suffix of ['', '/messages', '/events']) {
      const other = await read(`/v1/sessions/${sessionsOfA[0]}${suffix}`, token);
      expect(other.status).toBe(404);
      expect(other.json.code).toBe('NOT_FOUND');
    }
  });

  it('takes the token from the Authorization header only, and refuses one in the query string even beside a valid header', async () => {
    const token = tokenOf(A);
    const refusals = [
      await read('/v1/sessions'),
      await read(`/v1/sessions?token=${token}`),
      await read(`/v1/sessions?token=${token}`, token),
      await read(`/v1/sessions/${sessionsOfA[0]}?access_token=${token}`, token),
      await read('/v1/sessions', undefined, { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` }),
      await read('/v1/sessions', tokenFor({ ...config, relayJwtSecret: 'another-secret-entirely' }, A)),
      await read('/v1/sessions', craftToken({ sub: A, exp: Math.floor(Date.now() / 1000) - 10 }, config.relayJwtSecret)),
      await read('/v1/sessions', craftToken({ sub: A, exp: Math.floor(Date.now() / 1000) + config.relayTokenMaxTtlS + 3600 }, config.relayJwtSecret)),
      await read('/v1/sessions', craftToken({ sub: A, exp: Math.floor(Date.now() / 1000) + 60 }, config.relayJwtSecret, { alg: 'none' })),
      await read('/v1/no-such-route', undefined),
    ];
    for (const answer of refusals) {
      expect(answer.status, answer.text).toBe(401);
      expect(answer.json).toEqual({ success: false, code: 'UNAUTHORIZED', message: expect.any(String) });
    }
  });

  it('refuses bad paging values and odd ids with a 400 or 404, never a 500', async () => {
    const token = tokenOf(A);
    const id = sessionsOfA[0]!;
    const bad = [
      '/v1/sessions?limit=0',
      '/v1/sessions?limit=-1',
      '/v1/sessions?limit=101',
      '/v1/sessions?limit=99999999999999999999',
      '/v1/sessions?limit=ten',
      '/v1/sessions?limit=2.5',
      '/v1/sessions?limit=',
      '/v1/sessions?limit=1&limit=2',
      `/v1/sessions?cursor=${'x'.repeat(5_000)}`,
      `/v1/sessions/${id}/messages?limit=501`,
      `/v1/sessions/${id}/messages?limit=0`,
      `/v1/sessions/${id}/messages?cursor=nope`,
      `/v1/sessions/${id}/events?afterSeq=-1`,
      `/v1/sessions/${id}/events?afterSeq=1.5`,
      `/v1/sessions/${id}/events?afterSeq=abc`,
      `/v1/sessions/${id}/events?afterSeq=99999999999`,
      `/v1/sessions/${id}/events?limit=501`,
    ];
    for (const path of bad) {
      const answer = await read(path, token);
      expect(answer.status, path).toBe(400);
      expect(answer.json, path).toEqual({ success: false, code: 'INVALID_REQUEST', message: expect.any(String) });
    }
    for (const odd of ['x'.repeat(300), '%00', `a%00b`, encodeURIComponent('séance-☎-🦷'), '%ff', '..', '%2F']) {
      for (const suffix of ['', '/messages', '/events']) {
        const answer = await read(`/v1/sessions/${odd}${suffix}`, token);
        expect([400, 404], `${odd}${suffix}: ${answer.text}`).toContain(answer.status);
        expect(answer.json.success).toBe(false);
      }
    }
  });
});

describe('every answer', () => {
  it('records one audit row per read, naming records by id and holding none of their content', async () => {
    const before = await handle.db.select().from(auditEvents).where(eq(auditEvents.patientId, B));
    const reads = ['/v1/sessions', `/v1/sessions/${sessionOfB}`, `/v1/sessions/${sessionOfB}/messages`, `/v1/sessions/${sessionOfB}/events?afterSeq=1`];
    for (const path of reads) expect((await read(path, tokenOf(B))).status).toBe(200);
    await read(`/v1/sessions/${sessionsOfA[0]}`, tokenOf(B));
    const rows = await handle.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.patientId, B), sql`${auditEvents.id} > ${before.at(-1)?.id ?? 0}`))
      .orderBy(asc(auditEvents.id));
    expect(rows.map((row) => [row.actor, row.action, row.sessionId, row.outcome, row.source])).toEqual([
      ['patient', 'history.read', null, 'success', '127.0.0.1'],
      ['patient', 'history.read', sessionOfB, 'success', '127.0.0.1'],
      ['patient', 'history.read', sessionOfB, 'success', '127.0.0.1'],
      ['patient', 'history.read', sessionOfB, 'success', '127.0.0.1'],
    ]);
    expect(rows[0]!.what).toEqual([`session ${sessionOfB}`]);
    expect(rows[2]!.what).toEqual([`messages of session ${sessionOfB} (4)`]);
    expectNoPlaintext(await handle.db.select().from(auditEvents), SECRET_WORDS);
  });

  it('is no-store, and carries no transcript text in any header or log line', async () => {
    expectNoPlaintext(logLines, SECRET_WORDS);
    expect(answers.length).toBeGreaterThan(100);
    for (const answer of answers) {
      expect(answer.headers.get('cache-control'), answer.text).toBe('no-store');
      expectNoPlaintext([[...answer.headers.entries()]], SECRET_WORDS);
    }
    expect(answers.some((answer) => answer.status === 200 && answer.text.includes('Okafor'))).toBe(true);
  });
});
