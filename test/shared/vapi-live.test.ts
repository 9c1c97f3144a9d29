import { describe, expect, it } from 'vitest';
import { readEnvelope } from '#shared/vapi/envelope';
import { liveJobOf } from '#shared/vapi/live';

const receivedAt = new Date('2026-11-20T15:00:01.000Z');
const partial = (call: Record<string, unknown>) =>
  readEnvelope({
    message: { type: 'transcript', role: 'assistant', transcriptType: 'partial', transcript: 'Hello, this is', timestamp: 1795000000000, call },
  })!;

describe('liveJobOf', () => {
  it("carries the event and the patient its call's metadata claims", () => {
    expect(liveJobOf(partial({ id: 'call-1', metadata: { patientId: 'pat-ada' } }), receivedAt)).toEqual({
      event: {
        type: 'transcript',
        sessionId: 'call-1',
        at: '2026-11-18T11:06:40.000Z',
        data: { role: 'assistant', transcript: 'Hello, this is', timestamp: '2026-11-18T11:06:40.000Z', final: false },
      },
      claimedPatientId: 'pat-ada',
    });
  });

  it("claims nobody for a caller's number, an empty claim or one too long to be our app's", () => {
    for (const call of [
      { id: 'call-2', customer: { number: '+15550100001' } },
      { id: 'call-3', metadata: { patientId: '' } },
      { id: 'call-4', metadata: { patientId: 'p'.repeat(129) } },
      { id: 'call-5', metadata: { patientId: { $ne: null } } },
    ]) {
      expect(liveJobOf(partial(call), receivedAt)?.claimedPatientId).toBeNull();
    }
  });

  it('gives nothing for an event the live lane does not take or cannot show', () => {
    expect(
      liveJobOf(
        readEnvelope({ message: { type: 'status-update', status: 'ringing', call: { id: 'call-6', metadata: { patientId: 'pat-ada' } } } })!,
        receivedAt,
      ),
    ).toBeNull();
    expect(
      liveJobOf(readEnvelope({ message: { type: 'transcript', transcriptType: 'partial', transcript: 'no role', call: { id: 'call-7' } } })!, receivedAt),
    ).toBeNull();
  });
});
