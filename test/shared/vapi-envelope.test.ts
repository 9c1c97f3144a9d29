import { describe, expect, it } from 'vitest';
import { readEnvelope } from '#shared/vapi/envelope';
import { parseTimestamp } from '#shared/vapi/timestamp';

describe('parseTimestamp', () => {
  it.each([
    [1795000000123, '2026-11-18T11:06:40.123Z'],
    [1795000000, '2026-11-18T11:06:40.000Z'],
    ['1795000000123', '2026-11-18T11:06:40.123Z'],
    ['2024-07-04T05:39:10.225Z', '2024-07-04T05:39:10.225Z'],
  ])('reads %j', (input, iso) => {
    expect(parseTimestamp(input)?.toISOString()).toBe(iso);
  });

  it.each([undefined, null, '', 'yesterday', {}, Number.NaN, 1e300])('gives null for %j', (input) => {
    expect(parseTimestamp(input)).toBeNull();
  });
});

describe('readEnvelope', () => {
  it("reads Vapi's envelope", () => {
    const event = readEnvelope({ message: { type: 'status-update', timestamp: 1795000000000, call: { id: 'call-1' } } });
    expect(event).toMatchObject({ source: 'vapi', type: 'status-update', callId: 'call-1' });
    expect(event!.timestamp!.getTime()).toBe(1795000000000);
  });

  it("reads the story's envelope, with sessionId or callId", () => {
    expect(readEnvelope({ type: 'message', data: { sessionId: 's-1' } })).toMatchObject({ source: 'story', type: 'message', callId: 's-1' });
    expect(readEnvelope({ type: 'call-end', data: { callId: 's-2' } })).toMatchObject({ callId: 's-2', timestamp: null });
  });

  it.each([
    null,
    [],
    'text',
    {},
    { message: {} },
    { message: { type: '' } },
    { type: 'message' },
    { type: 7, data: {} },
    { message: { type: 'x'.repeat(129) } },
    { message: { type: 'hang', call: { id: 'c'.repeat(129) } } },
    { message: { type: 'hang', call: { id: 42 } } },
  ])('rejects %j', (body) => {
    expect(readEnvelope(body)).toBeNull();
  });
});
