import { describe, expect, it } from 'vitest';
import { statusEvent, transcriptEvent } from '#shared/relay';
import { readEnvelope } from '#shared/vapi/envelope';
import { callerIdentity } from '#shared/vapi/read';
import { changeFor, type Completion, type EventChange } from '../../services/worker/lib/event-changes.ts';
import {
  applyEvents,
  BACKFILLED,
  bindingFor,
  bringsNewIdentity,
  complete,
  NO_TURNS,
  type KnownCaller,
  type SessionEvent,
  type SessionState,
} from '../../services/worker/lib/session-state.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';

const fresh = (id = 'call-1'): SessionState => ({
  id,
  status: 'queued',
  startedAt: null,
  endedAt: null,
  endedReason: null,
  lastEventAt: null,
  metadata: { source: 'vapi' },
  patientId: null,
  patientVerified: false,
  callerHash: null,
});
const nothingStored = { turns: NO_TURNS, toolsUsed: [] };
const noCallers = new Map<string, KnownCaller>();
const t = (ms: number) => new Date(1795000000000 + ms);
let ids = 0;
const event = (change: Partial<EventChange>, at = t(0), identity = {}): SessionEvent => ({
  eventId: `e${++ids}`,
  at,
  change: { messages: [], relay: [], ...change },
  identity,
});
const said = (role: 'user' | 'assistant', transcript: string, at: Date) => event({ messages: [{ role, transcript, timestamp: at, metadata: {} }] }, at);
const storyEnd = (summary: string): Completion => ({
  vapiSummary: summary,
  analysis: null,
  cost: null,
  successEvaluation: null,
  recordingUrl: null,
  reportedDurationSeconds: undefined,
  conversation: null,
  backfill: [],
});
const fromBody = (body: VapiBody): SessionEvent => {
  const incoming = readEnvelope(body)!;
  return { eventId: `e${++ids}`, at: incoming.timestamp!, change: changeFor(incoming, incoming.timestamp!), identity: callerIdentity(incoming.message) };
};

describe('applying a session’s events', () => {
  it('moves status forward only, and keeps the earliest start and the latest end', () => {
    const applied = applyEvents(
      fresh(),
      [
        event({ status: 'ended', endedAt: t(90_000), endedReason: 'silence-timed-out' }, t(90_000)),
        event({ status: 'in-progress', startedAt: t(1_000) }, t(1_000)),
        event({ status: 'in-progress', startedAt: t(5_000) }, t(5_000)),
        event({ status: 'queued' }, t(0)),
      ],
      nothingStored,
      noCallers,
    );
    expect(applied.state).toMatchObject({ status: 'ended', startedAt: t(1_000), endedAt: t(90_000), endedReason: 'silence-timed-out', lastEventAt: t(90_000) });
    expect(applied.relay).toEqual([{ ...statusEvent('ended', 'silence-timed-out'), at: t(90_000) }]);
  });

  it('takes the end time from the event when an ending status says none', () => {
    const applied = applyEvents(fresh(), [event({ status: 'ended' }, t(42))], nothingStored, noCallers);
    expect(applied.state.endedAt).toEqual(t(42));
  });

  it('announces each status it moves to, in order, and relays what each event relays', () => {
    const transcript = { ...transcriptEvent('user', 'Hi.', t(2), true), at: t(2) };
    const applied = applyEvents(
      fresh(),
      [
        event({ status: 'ringing' }, t(1)),
        event({ relay: [transcript], messages: [{ role: 'user', transcript: 'Hi.', timestamp: t(2), metadata: {} }] }, t(2)),
        event({ status: 'ringing' }, t(3)),
      ],
      nothingStored,
      noCallers,
    );
    expect(applied.relay.map((e) => e.type)).toEqual(['session_status', 'transcript']);
    expect(applied.messages.map((group) => group.messages.map((m) => m.transcript))).toEqual([['Hi.']]);
  });

  it('reaches the same end whatever the order of a whole call, with one transcript either way', () => {
    const call = realisticCall();
    const inOrder = call.events.map(fromBody);
    const forward = applyEvents(fresh(call.callId), inOrder, nothingStored, noCallers);
    const backward = applyEvents(fresh(call.callId), [...inOrder].reverse(), nothingStored, noCallers);
    for (const applied of [forward, backward]) {
      expect(applied.state).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call', endedAt: new Date(call.endedAtMs) });
      expect(applied.messages.flatMap((g) => g.messages).map((m) => [m.role, m.transcript])).toEqual(call.finalTranscripts);
      expect(applied.relay.filter((e) => e.type === 'session_end')).toHaveLength(1);
    }
    expect(forward.state.startedAt).toEqual(backward.state.startedAt);
    // Backwards, the report comes first and its artifact is the transcript; the live finals after it are dropped.
    expect(backward.state.metadata.transcriptFrom).toBe(BACKFILLED);
    expect(forward.state.metadata.transcriptFrom).toBeUndefined();
  });

  it('counts what the same batch stores as stored: no backfill after a transcript, a backfill with nothing before', () => {
    const report = fromBody(realisticCall().report);
    const afterTranscript = applyEvents(fresh(), [said('user', 'Hello?', t(1)), report], nothingStored, noCallers);
    expect(afterTranscript.messages.flatMap((g) => g.messages).map((m) => m.transcript)).toEqual(['Hello?']);

    const alone = applyEvents(fresh(), [report], nothingStored, noCallers);
    expect(alone.messages).toEqual([{ eventId: 'backfill.call-1', messages: report.change.completion!.backfill }]);
    expect(alone.state.metadata).toEqual({ source: 'vapi', transcriptFrom: BACKFILLED });

    const storedBefore = applyEvents(fresh(), [report], { turns: { user: 1, assistant: 0, system: 0 }, toolsUsed: [] }, noCallers);
    expect(storedBefore.messages).toEqual([]);
  });

  it('counts stored turns and the batch’s own in a summary built from what was stored', () => {
    const applied = applyEvents(
      fresh(),
      [
        said('assistant', 'Hello.', t(1)),
        said('user', 'Hi.', t(2)),
        event({ status: 'completed', endedAt: t(60_000), completion: storyEnd('Greetings.') }, t(60_000)),
      ],
      { turns: { user: 2, assistant: 1, system: 0 }, toolsUsed: ['lookup_order'] },
      noCallers,
    );
    expect(applied.completion).toMatchObject({ keyInsights: { turns: { user: 3, assistant: 2, system: 0 }, toolsUsed: ['lookup_order'] } });
    expect(applied.completion!.summary).toContain('3 patient turns, 2 assistant turns');
  });

  it('summarises and announces a repeated end once', () => {
    const end = (summary: string) => event({ status: 'completed', completion: storyEnd(summary) }, t(9));
    const applied = applyEvents(fresh(), [end('first'), end('second')], nothingStored, noCallers);
    expect(applied.relay.filter((e) => e.type === 'session_end')).toHaveLength(1);
    expect(applied.notifications.map((n) => n.type)).toEqual(['session.ended']);
    expect(applied.completion!.summary).toContain('first');

    const already = applyEvents({ ...fresh(), status: 'completed' }, [end('late')], nothingStored, noCallers);
    expect(already).toMatchObject({ relay: [], notifications: [], completion: null });
  });

  it('announces a reconciled end once, marked, and applies a real report after it once without announcing again', () => {
    const missing = event({ status: 'ended', endedReason: 'report-missing', reconciled: 'timeout', completion: storyEnd('none came') }, t(5));
    const report = (summary: string) => event({ status: 'completed', endedReason: 'customer-ended-call', completion: storyEnd(summary) }, t(9));
    const ended = applyEvents({ ...fresh(), status: 'in-progress' }, [missing], nothingStored, noCallers);
    expect(ended.state).toMatchObject({ status: 'ended', endedReason: 'report-missing', metadata: { reconciled: 'timeout' } });
    expect(ended.relay.filter((e) => e.type === 'session_end').map((e) => e.data)).toEqual([expect.objectContaining({ reconciled: 'timeout' })]);
    expect(ended.notifications.map((n) => n.data.reconciled)).toEqual(['timeout']);

    const late = applyEvents(ended.state, [report('the real one'), report('a second one')], nothingStored, noCallers);
    expect(late.state).toMatchObject({
      status: 'completed',
      endedReason: 'customer-ended-call',
      metadata: { reconciled: 'timeout', lateReport: t(9).toISOString() },
    });
    expect(late.completion!.summary).toContain('the real one');
    expect(late.relay.map((e) => e.type)).toEqual(['session_status']);
    expect(late.notifications).toEqual([]);
  });

  it('drops a reconciliation reaching a session its report already completed, and never reconciles twice', () => {
    const reconciled = event({ status: 'completed', reconciled: 'vapi-api', completion: storyEnd('from the API') }, t(5));
    const done = applyEvents({ ...fresh(), status: 'completed', endedReason: 'customer-ended-call' }, [reconciled], nothingStored, noCallers);
    expect(done).toMatchObject({ relay: [], notifications: [], completion: null, state: { endedReason: 'customer-ended-call' } });
    expect(done.state.metadata.reconciled).toBeUndefined();

    const twice = applyEvents({ ...fresh(), status: 'in-progress' }, [reconciled, { ...reconciled, eventId: 'again' }], nothingStored, noCallers);
    expect(twice.notifications).toHaveLength(1);
    expect(twice.state.metadata).toMatchObject({ reconciled: 'vapi-api' });
  });

  it('notifies a terminal error with the patient bound at the time', () => {
    const error = { code: 'ERROR', message: 'Error' };
    const applied = applyEvents(
      fresh(),
      [event({ error, relay: [{ type: 'session_error', at: t(1), data: error }] }, t(1), { claimedPatientId: 'pat-9' })],
      nothingStored,
      noCallers,
    );
    expect(applied.notifications).toEqual([{ type: 'session.error', at: t(1), data: error, patientId: 'pat-9' }]);
  });
});

describe('binding a session to its patient', () => {
  const callers = new Map<string, KnownCaller>([
    ['+15550100001', { hash: 'h1', patientIds: ['pat-1'] }],
    ['+15550100002', { hash: 'h2', patientIds: ['pat-2', 'pat-3'] }],
    ['+15550100009', { hash: 'h9', patientIds: [] }],
  ]);

  it('verifies a claimed patient, binds a sole phone match unverified, and binds nobody on a shared or unknown phone', () => {
    expect(bindingFor({ claimedPatientId: 'pat-app', callerNumber: '+15550100001' }, callers)).toEqual({
      patientId: 'pat-app',
      patientVerified: true,
      callerHash: 'h1',
    });
    expect(bindingFor({ callerNumber: '+15550100001' }, callers)).toEqual({ patientId: 'pat-1', patientVerified: false, callerHash: 'h1' });
    expect(bindingFor({ callerNumber: '+15550100002' }, callers)).toEqual({ patientId: null, patientVerified: false, callerHash: 'h2' });
    expect(bindingFor({ callerNumber: '+15550100009' }, callers)).toEqual({ patientId: null, patientVerified: false, callerHash: 'h9' });
    expect(bindingFor({}, callers)).toEqual({ patientId: null, patientVerified: false, callerHash: null });
  });

  it('tries identity a session lacked only once, and never rebinds a bound session', () => {
    const unbound = { patientId: null, patientVerified: false, callerHash: null };
    expect(bringsNewIdentity(unbound, { callerNumber: '+1' })).toBe(true);
    expect(bringsNewIdentity({ ...unbound, callerHash: 'h9' }, { callerNumber: '+1' })).toBe(false);
    expect(bringsNewIdentity({ ...unbound, callerHash: 'h9' }, { claimedPatientId: 'pat-1' })).toBe(true);
    expect(bringsNewIdentity({ ...unbound, patientId: 'pat-1' }, { claimedPatientId: 'pat-2' })).toBe(false);
  });

  it('binds a session created without a patient on the first later event that brings one, keeping its caller hash', () => {
    const applied = applyEvents(
      { ...fresh(), callerHash: 'h9' },
      [said('user', 'Hi.', t(1)), event({}, t(2), { claimedPatientId: 'pat-4', callerNumber: '+15550100001' }), event({}, t(3), { claimedPatientId: 'pat-5' })],
      nothingStored,
      callers,
    );
    expect(applied.state).toMatchObject({ patientId: 'pat-4', patientVerified: true, callerHash: 'h9' });
  });
});

describe('completing a session', () => {
  it('returns what it computes and leaves what it was given as it was', () => {
    const state = Object.freeze({ ...fresh(), status: 'completed' as const, startedAt: t(0), endedAt: t(95_000), endedReason: 'customer-ended-call' });
    const completion = Object.freeze({ ...storyEnd('Booked.'), cost: 0.5, successEvaluation: 'true', recordingUrl: 'https://r.example/a.wav' });
    const stored = Object.freeze({
      turns: Object.freeze({ user: 1, assistant: 1, system: 0 }),
      toolsUsed: Object.freeze(['schedule_appointment']) as string[],
    });
    const done = complete(state, completion, stored);
    expect(done.backfill).toEqual([]);
    expect(done.completion).toMatchObject({
      keyInsights: {
        durationSeconds: 95,
        turns: { user: 1, assistant: 1, system: 0 },
        toolsUsed: ['schedule_appointment'],
        endedReason: 'customer-ended-call',
        successEvaluation: 'true',
        cost: 0.5,
      },
      recordingUrl: 'https://r.example/a.wav',
      cost: '0.5000',
      analysis: null,
    });
    expect(done.completion.summary).toContain('Call lasted 1 min 35 s.');
    expect(done.ended).toEqual({
      sessionId: 'call-1',
      status: 'ended',
      summary: done.completion.summary,
      durationSeconds: 95,
      endedReason: 'customer-ended-call',
    });
  });
});
