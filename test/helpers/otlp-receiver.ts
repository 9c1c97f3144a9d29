import { createServer } from 'node:http';

/** A span as an OTLP/HTTP JSON export carries it (ids in hex), with its resource's service name. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  attributes: Record<string, unknown>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
type KeyValues = { key: string; value: AnyValue }[];

interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValues };
    scopeSpans?: { spans?: (Omit<ReceivedSpan, 'service' | 'attributes'> & { attributes?: KeyValues })[] }[];
  }[];
}

const plain = (value: AnyValue) => value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.boolValue ?? value.doubleValue));
const attributesOf = (list: KeyValues = []) => Object.fromEntries(list.map(({ key, value }) => [key, plain(value)]));

/**
 * An OpenTelemetry collector standing in for Jaeger or Tempo: accepts OTLP over HTTP on
 * `/v1/traces` and keeps every span of a JSON export (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`), and
 * the bytes of a protobuf one (the SDK's default; not decoded); `close` when done.
 */
export async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const protobufExports: Buffer[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const type = String(request.headers['content-type']);
      if (request.method !== 'POST' || request.url !== '/v1/traces' || !/^application\/(json|x-protobuf)/.test(type)) {
        response.writeHead(415).end();
        return;
      }
      if (type.startsWith('application/x-protobuf')) {
        protobufExports.push(Buffer.concat(chunks));
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        return;
      }
      for (const resourceSpans of (JSON.parse(Buffer.concat(chunks).toString()) as ExportRequest).resourceSpans ?? []) {
        const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name']);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ ...span, service, attributes: attributesOf(span.attributes) });
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    protobufExports,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
