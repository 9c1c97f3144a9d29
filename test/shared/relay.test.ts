import { describe, expect, it } from 'vitest';
import { endEvent, errorEvent, functionCallEvent, speechEvent, statusEvent, storedRelayEvent, transcriptEvent } from '#shared/relay';
import { readEnvelope } from '#shared/vapi/envelope';
import { liveJobOf } from '#shared/vapi/live';
import { changeFor } from '../../services/worker/lib/event-changes.ts';

const at = new Date('2026-11-20T15:00:00.000Z');

describe('relay event builders', () => {
  it("build each event's data as the contract names it", () => {
    expect(statusEvent('ringing', null)).toEqual({ type: 'session_status', data: { status: 'ringing' } });
    expect(statusEvent('ended', 'customer-ended-call')).toEqual({ type: 'session_status', data: { status: 'ended', endedReason: 'customer-ended-call' } });
    expect(transcriptEvent('user', 'Hello.', at, true)).toEqual({
      type: 'transcript',
      data: { role: 'user', transcript: 'Hello.', timestamp: at.toISOString(), final: true },
    });
    expect(speechEvent('assistant', 'started', undefined)).toEqual({ type: 'speech', data: { role: 'assistant', status: 'started' } });
    expect(speechEvent('assistant', 'stopped', 0)).toEqual({ type: 'speech', data: { role: 'assistant', status: 'stopped', turn: 0 } });
    expect(functionCallEvent('lookup_order', 'started', 'tc-1')).toEqual({
      type: 'function_call',
      data: { name: 'lookup_order', status: 'started', toolCallId: 'tc-1' },
    });
    const ended = { sessionId: 'call-1', status: 'ended' as const, summary: 'Call lasted 1 minute.', durationSeconds: 60, endedReason: null };
    expect(endEvent(ended)).toEqual({ type: 'session_end', data: ended });
    expect(errorEvent('ERROR', 'Transcriber failed')).toEqual({ type: 'session_error', data: { code: 'ERROR', message: 'Transcriber failed' } });
  });

  it('give a partial on the live lane and the final of the same utterance on the durable lane one shape', () => {
    const transcript = (transcriptType: string) =>
      readEnvelope({
        message: { type: 'transcript', role: 'user', transcriptType, transcript: 'I would like a visit', timestamp: at.getTime(), call: { id: 'call-1' } },
      })!;
    const live = liveJobOf(transcript('partial'), at)!.event;
    const [stored] = changeFor(transcript('final'), at).relay;
    expect(storedRelayEvent({ ...stored!, sessionId: 'call-1', seq: 1 })).toEqual({ ...live, seq: 1, data: { ...live.data, final: true } });
  });
});
