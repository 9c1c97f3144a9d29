import { describe, expect, it } from 'vitest';
import { readEnvelope } from '#shared/vapi/envelope';
import { changeFor } from '../../services/worker/lib/event-changes.ts';
import { reportFromCall, reportMissing } from '../../services/worker/lib/reconciler.ts';
import { endedCall } from '../helpers/vapi-api.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';

const received = new Date('2026-11-20T15:10:00.000Z');
const changeOf = (body: unknown) => changeFor(readEnvelope(body)!, received);
const call = { id: 'call-1', orgId: 'org' };

describe('what one event changes', () => {
  it('stores and relays a final transcript, and nothing of a partial one', () => {
    const at = 1795000000000;
    const final = changeOf({ message: { type: 'transcript', transcriptType: 'final', role: 'bot', transcript: 'Hello.', timestamp: at, call } });
    expect(final.messages).toEqual([{ role: 'assistant', transcript: 'Hello.', timestamp: new Date(at), metadata: { transcriptType: 'final' } }]);
    expect(final.relay).toEqual([
      { type: 'transcript', at: new Date(at), data: { role: 'assistant', transcript: 'Hello.', timestamp: new Date(at).toISOString(), final: true } },
    ]);
    expect(changeOf({ message: { type: 'transcript', transcriptType: 'partial', role: 'user', transcript: 'Hel', call } })).toEqual({
      messages: [],
      relay: [],
    });
  });

  it('reads a status, its start time and an end reason that looks like a code, and not one that does not', () => {
    expect(changeOf({ message: { type: 'status-update', status: 'in-progress', call: { ...call, startedAt: '2026-11-20T15:00:01.000Z' } } })).toMatchObject({
      status: 'in-progress',
      startedAt: new Date('2026-11-20T15:00:01.000Z'),
    });
    expect(changeOf({ message: { type: 'status-update', status: 'in-progress', call } }).startedAt).toEqual(received);
    expect(changeOf({ message: { type: 'status-update', status: 'ended', endedReason: 'customer-ended-call', call } })).toMatchObject({
      status: 'ended',
      endedReason: 'customer-ended-call',
    });
    expect(changeOf({ message: { type: 'status-update', status: 'ended', endedReason: 'she said her chest hurts', call } }).endedReason).toBeNull();
    expect(changeOf({ message: { type: 'status-update', status: 'thinking', call } })).toEqual({ messages: [], relay: [] });
  });

  it("reads the reconciler's report as a report, its mark only when the job came from the reconciler", () => {
    const fromApi = readEnvelope(reportFromCall(endedCall('call-1') as unknown as Record<string, unknown>, received))!;
    expect(changeFor(fromApi, received, true)).toMatchObject({
      reconciled: 'vapi-api',
      status: 'completed',
      endedReason: 'customer-ended-call',
      endedAt: new Date('2026-11-20T15:01:05.000Z'),
      completion: {
        vapiSummary: 'The patient booked a check-up for Tuesday at 10.',
        cost: 0.1234,
        conversation: { turns: { user: 1, assistant: 2, system: 0 } },
      },
    });
    expect(changeFor(fromApi, received, false).reconciled).toBeUndefined();
    const missing = readEnvelope(reportMissing({ id: 'call-1', lastEventAt: new Date('2026-11-20T15:00:30.000Z') }, received))!;
    expect(changeFor(missing, received, true)).toMatchObject({
      reconciled: 'timeout',
      status: 'ended',
      endedReason: 'report-missing',
      endedAt: new Date('2026-11-20T15:00:30.000Z'),
    });
  });

  it('completes on an end-of-call report, keeping what the columns can hold', () => {
    const report = realisticCall().report;
    const change = changeOf(report);
    expect(change).toMatchObject({ status: 'completed', endedReason: 'customer-ended-call', messages: [], relay: [] });
    expect(change.completion).toMatchObject({
      cost: 0.1234,
      successEvaluation: 'true',
      recordingUrl: 'https://storage.example/recordings/stereo.wav',
      conversation: { turns: { user: 2, assistant: 2, system: 0 }, toolsUsed: ['lookup_patient_info'] },
    });
    expect(change.completion!.backfill.map((m) => m.role)).toEqual(['assistant', 'user', 'assistant', 'user']);

    const odd = changeOf({ message: { ...report.message, cost: 99_999_999.99999, analysis: { successEvaluation: 'Partly, she was unsure' } } });
    expect(odd.completion).toMatchObject({ cost: null, successEvaluation: null, analysis: { successEvaluation: 'Partly, she was unsure' } });
  });

  it('reads the story envelope: a message whatever its role, a call end, an error', () => {
    const data = { sessionId: 'call-2', timestamp: '2026-11-20T15:00:00.000Z' };
    expect(changeOf({ type: 'message', data: { ...data, content: 'No role given.' } }).messages.map((m) => m.role)).toEqual(['assistant']);
    expect(changeOf({ type: 'message', data: { ...data, role: 'agent', content: 'Unknown role.' } }).messages.map((m) => m.role)).toEqual(['system']);
    expect(changeOf({ type: 'call-end', data: { ...data, reason: 'hangup', duration: 42 } })).toMatchObject({
      status: 'completed',
      endedAt: new Date(data.timestamp),
      endedReason: 'hangup',
      completion: { reportedDurationSeconds: 42, conversation: null, backfill: [] },
    });
    const error = changeOf({ type: 'error', data: { ...data, code: 'LLM_FAILED', message: 'The model did not answer' } });
    expect(error.error).toEqual({ code: 'LLM_FAILED', message: 'The model did not answer' });
    expect(error.relay.map((e) => e.type)).toEqual(['session_error']);
  });

  it('changes nothing beyond the event log for types that only need recording', () => {
    for (const type of ['hang', 'model-output', 'conversation-update', 'tool-calls', 'language-change-detected']) {
      expect(changeOf({ message: { type, call } })).toEqual({ messages: [], relay: [] });
    }
  });
});
