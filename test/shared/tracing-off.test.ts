import { ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { loggerOptions } from '#shared/logger';
import { activeTraceCarrier, inSpan, startSharedSpans, withQueueTelemetry } from '#shared/tracing';

describe('tracing off (no OTLP endpoint: startTracing never ran)', () => {
  it('adds nothing anywhere: no queue telemetry, no carrier, no spans, no log fields', async () => {
    expect(withQueueTelemetry()).toEqual({});
    expect(activeTraceCarrier()).toBeNull();
    expect(startSharedSpans('worker.transaction', [{ parent: ROOT_CONTEXT, attributes: {} }])).toBeUndefined();
    expect(await inSpan('relay.send', {}, async (span) => span)).toBeUndefined();
    expect(loggerOptions({ level: 'info', service: 'vapi-relay', pretty: false })).not.toHaveProperty('mixin');
    expect(loggerOptions({ level: 'info', service: 'vapi-relay', pretty: false, traceIds: true })).toHaveProperty('mixin');
  });
});
