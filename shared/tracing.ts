import { context, propagation, ROOT_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { BullMQOtel } from 'bullmq-otel';
import type { Role } from './config.ts';

/**
 * OpenTelemetry tracing (docs/operations.md, "Tracing"): one trace per webhook, from the ingress's
 * request through the job, the transaction, the outbox row and the pub/sub message to the relay's
 * send and the notification's `traceparent`. Off unless `startTracing` ran (an OTLP endpoint is
 * set): then every helper here is a plain call, and the SDK and its instrumentations are never even
 * loaded.
 */

/** A trace context as an outbox row or a pub/sub message carries it: `traceparent`, and `tracestate` when there is one. */
export type TraceCarrier = Record<string, string>;

const TRACER_NAME = 'vapi-relay';

/** Probes and scrapes would be most of the spans, and say nothing about an event. */
const UNTRACED_PATHS = new Set(['/metrics', '/healthz', '/readyz']);

let telemetry: BullMQOtel | undefined;

/** `service.name` of a process running `roles`: the role's own name, or the product's for several in one process. */
export const serviceNameFor = (roles: readonly Role[]) => (roles.length === 1 ? `vapi-relay-${roles[0]}` : 'vapi-relay');

/**
 * Starts the SDK (traces only, exported as the standard OTEL_* variables say: OTLP over http/protobuf
 * by default, http/json when `OTEL_EXPORTER_OTLP_PROTOCOL` says so) with the Fastify instrumentation,
 * before any app is built. Metrics stay on Prometheus and logs on stdout. Resolves to its shutdown,
 * which flushes the spans not yet exported.
 */
export async function startTracing(options: {
  roles: readonly Role[];
  serviceName?: string | undefined;
  env: NodeJS.ProcessEnv;
}): Promise<() => Promise<void>> {
  // The SDK reads process.env itself: OTEL_* variables that only `.env` holds are copied there first.
  for (const [name, value] of Object.entries(options.env)) if (name.startsWith('OTEL_') && process.env[name] === undefined) process.env[name] = value;
  const [{ NodeSDK }, { FastifyOtelInstrumentation }] = await Promise.all([import('@opentelemetry/sdk-node'), import('@fastify/otel')]);
  const sdk = new NodeSDK({
    serviceName: options.serviceName ?? serviceNameFor(options.roles),
    instrumentations: [new FastifyOtelInstrumentation({ registerOnInitialization: true, ignorePaths: ({ url }) => UNTRACED_PATHS.has(url.split('?')[0]!) })],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  telemetry = new BullMQOtel({ tracerName: TRACER_NAME, enableMetrics: false });
  return async () => {
    telemetry = undefined;
    await sdk.shutdown();
  };
}

/** BullMQ's `telemetry` option for a Queue or Worker (spans per add and per job, the context carried in the job), or nothing. */
export const withQueueTelemetry = (): { telemetry?: BullMQOtel } => (telemetry ? { telemetry } : {});

/** The active trace context as a carrier to store or send, or null when there is none (tracing off). */
export function activeTraceCarrier(): TraceCarrier | null {
  if (!telemetry) return null;
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : null;
}

/** The context a stored or received carrier describes (the root context when it holds none). */
export const traceContextFrom = (carrier: TraceCarrier | null | undefined): Context => (carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT);

/** Marks a span failed with the error's name only: messages (a database error's, say) may quote health data. */
function markFailed(span: Span, error: unknown): void {
  const name = error instanceof Error ? error.name : 'Error';
  span.setAttribute('exception.type', name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: name });
}

/**
 * Runs `fn` in a span named `name`, child of `parent` (the active context by default); a rejection
 * marks the span failed. With tracing off, just runs `fn`.
 */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>, parent?: Context): Promise<T> {
  if (!telemetry) return fn(undefined);
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, { attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      markFailed(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Spans of one piece of work that several traces share (a group commit, a dispatch batch), one in each trace. */
export interface SharedSpans {
  /** Each item's span as a carrier to store or send with what it produced; undefined for an item with no trace. */
  carriers: (TraceCarrier | undefined)[];
  /** Runs `fn` in the first traced item's span, so the work's log lines name a trace. */
  run<T>(fn: () => T): T;
  /** Ends every span; an error marks them failed. */
  end(error?: unknown): void;
}

/**
 * Opens a span named `name` in each item's trace (`parent`: its context), all of one piece of work
 * done once for them all. Items whose parent holds no trace get none. Undefined with tracing off.
 */
export function startSharedSpans(name: string, items: { parent: Context; attributes: Attributes }[]): SharedSpans | undefined {
  if (!telemetry) return undefined;
  const tracer = trace.getTracer(TRACER_NAME);
  const spans = items.map(({ parent, attributes }) => {
    if (!trace.getSpanContext(parent)) return undefined;
    const span = tracer.startSpan(name, { attributes: { ...attributes, 'vapi_relay.batch_size': items.length } }, parent);
    return { span, context: trace.setSpan(parent, span) };
  });
  const first = spans.find((entry) => entry !== undefined);
  return {
    carriers: spans.map((entry) => {
      if (!entry) return undefined;
      const carrier: TraceCarrier = {};
      propagation.inject(entry.context, carrier);
      return carrier;
    }),
    run: (fn) => (first ? context.with(first.context, fn) : fn()),
    end(error) {
      for (const entry of spans) {
        if (!entry) continue;
        if (error !== undefined) markFailed(entry.span, error);
        entry.span.end();
      }
    },
  };
}

/** The active context, to keep with work that another callback will do (a group commit's batch). */
export const activeContext = (): Context => context.active();

/** The active span's ids, for every log line written inside it (pino's `mixin`). */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
