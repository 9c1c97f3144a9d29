import { describe, expect, it } from 'vitest';
import { readEnvelope } from '#shared/vapi/envelope';
import { lacksCallId, laneOf, messageTypeOf, metricType } from '#shared/vapi/message-types';

const vapi = (message: Record<string, unknown>) => readEnvelope({ message })!;
const story = (type: string, data: Record<string, unknown> = {}) => readEnvelope({ type, data })!;

describe('the message-type table', () => {
  it('sends partial transcripts and speech updates down the live lane, final transcripts and the rest to the durable one', () => {
    expect(laneOf(vapi({ type: 'transcript', transcriptType: 'partial' }))).toBe('live');
    expect(laneOf(vapi({ type: 'transcript[transcriptType="partial"]' }))).toBe('live');
    expect(laneOf(vapi({ type: 'speech-update' }))).toBe('live');
    expect(laneOf(vapi({ type: 'transcript', transcriptType: 'final' }))).toBe('durable');
    expect(laneOf(vapi({ type: 'transcript[transcriptType="final"]' }))).toBe('durable');
    expect(laneOf(vapi({ type: 'status-update' }))).toBe('durable');
    // The story's envelope has no live lane.
    expect(laneOf(story('speech-update'))).toBe('durable');
  });

  it('refuses call-bound types without a call, in their own envelope only', () => {
    expect(lacksCallId(vapi({ type: 'status-update' }))).toBe(true);
    expect(lacksCallId(vapi({ type: 'status-update', call: { id: 'call-1' } }))).toBe(false);
    expect(lacksCallId(vapi({ type: 'tool-calls' }))).toBe(false);
    expect(lacksCallId(story('call-end'))).toBe(true);
    expect(lacksCallId(story('status-update'))).toBe(false);
    expect(lacksCallId(vapi({ type: 'call-end' }))).toBe(false);
  });

  it('names what each type is answered with and how its redeliveries are recognised', () => {
    expect(messageTypeOf(vapi({ type: 'assistant-request' }))).toEqual({ lane: 'durable', callBound: false, answer: 'reply', dedup: 'content' });
    expect(messageTypeOf(vapi({ type: 'end-of-call-report' }))).toEqual({ lane: 'durable', callBound: true, answer: 'received', dedup: 'once-per-call' });
    expect(messageTypeOf(story('function-call'))).toEqual({ lane: 'durable', callBound: false, answer: 'tools', dedup: 'body' });
    // A Vapi type in the story's envelope is answered as Vapi's.
    expect(messageTypeOf(story('tool-calls')).answer).toBe('tools');
    expect(messageTypeOf(vapi({ type: 'not-a-type' }))).toEqual({ lane: 'durable', callBound: false, answer: 'received', dedup: 'content' });
  });

  it('labels metrics with known types only', () => {
    expect(metricType('end-of-call-report')).toBe('end-of-call-report');
    expect(metricType('call-end')).toBe('call-end');
    expect(metricType('made-up')).toBe('other');
    expect(metricType(undefined)).toBe('unknown');
  });
});
