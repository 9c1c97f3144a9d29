import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AuditEvent, Bundle, BundleEntry, Identifier, OperationOutcome, Resource } from '@medplum/fhirtypes';

/** One request the server got, its body parsed. */
export interface FhirRequest {
  headers: IncomingMessage['headers'];
  bundle: Bundle;
}

/**
 * What the server does with the next request: `process` it as a transaction, or answer `status`
 * with an OperationOutcome saying `diagnostics` without processing it; `process` and `status`
 * together commit the transaction and then answer `status`, as a proxy that lost the answer does.
 */
export interface FhirAnswer {
  process?: boolean;
  status?: number;
  diagnostics?: string;
}

type Stored = Resource & { id: string };

const outcome = (diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'processing', diagnostics }],
});

const tokenMatches = (token: string, pairs: { system?: string | undefined; value?: string | undefined }[]) => {
  const [system, value] = token.split('|');
  return pairs.some((pair) => pair.system === system && pair.value === value);
};

/** The search parameters conditional creates here use, each as R4 defines it for the types it applies to. */
/** The elements those parameters read, as the resources searched here (all with an identifier list, and AuditEvent) have them. */
type Searchable = Partial<Pick<AuditEvent, 'type' | 'subtype'>> & { identifier?: Identifier[] };

const SEARCH: Record<string, (resource: Searchable, token: string) => boolean> = {
  identifier: (resource, token) => tokenMatches(token, resource.identifier ?? []),
  // AuditEvent.type is a Coding.
  type: (resource, token) => tokenMatches(token, resource.type ? [{ system: resource.type.system, value: resource.type.code }] : []),
  subtype: (resource, token) =>
    tokenMatches(
      token,
      (resource.subtype ?? []).map((coding) => ({ system: coding.system, value: coding.code })),
    ),
};

/** Rewrites every `reference` that names a fullUrl of the Bundle to the resource it became. */
function resolveReferences(value: unknown, ids: Map<string, string>): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveReferences(item, ids));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === 'reference' && typeof inner === 'string' && ids.has(inner) ? ids.get(inner) : resolveReferences(inner, ids),
    ]),
  );
}

/**
 * A small FHIR R4 server on 127.0.0.1 (a real socket) that takes transaction Bundles POSTed to its
 * base: all or nothing, each entry a create, conditional when it has `ifNoneExist` (matched by the
 * search parameters above; more than one match is a 412, an unknown parameter a 400), `urn:uuid:`
 * references rewritten to the ids assigned or found. Answers follow `answers` in order, then
 * `process` for good.
 */
export async function startFhirServer(answers: FhirAnswer[] = []) {
  const requests: FhirRequest[] = [];
  const resources = new Map<string, Stored[]>();
  const stored = (type: string) => resources.get(type) ?? [];

  function transaction(bundle: Bundle): { status: number; body: Bundle | OperationOutcome } {
    if (bundle.resourceType !== 'Bundle' || bundle.type !== 'transaction')
      return { status: 400, body: outcome('Only transaction Bundles are taken at the base') };
    const ids = new Map<string, string>();
    const created: Stored[] = [];
    const responses: BundleEntry[] = [];
    for (const entry of bundle.entry ?? []) {
      const resource = entry.resource;
      if (!resource || entry.request?.method !== 'POST' || entry.request.url !== resource.resourceType)
        return { status: 400, body: outcome('Each entry must be a POST of its resource type') };
      const query = new URLSearchParams(entry.request.ifNoneExist ?? '');
      const unknown = [...query.keys()].filter((name) => !SEARCH[name]);
      if (unknown.length > 0) return { status: 400, body: outcome(`Unknown search parameter ${unknown.join(', ')}`) };
      const candidates = [...stored(resource.resourceType), ...created.filter((c) => c.resourceType === resource.resourceType)];
      const matches = entry.request.ifNoneExist
        ? candidates.filter((c) => [...query.entries()].every(([name, token]) => SEARCH[name]!(c as Searchable, token)))
        : [];
      if (matches.length > 1) return { status: 412, body: outcome('The conditional create matched more than one resource') };
      const id = matches[0]?.id ?? randomUUID();
      if (entry.fullUrl) ids.set(entry.fullUrl, `${resource.resourceType}/${id}`);
      if (matches.length === 0) created.push({ ...resource, id });
      responses.push({ response: { status: matches.length === 0 ? '201 Created' : '200 OK', location: `${resource.resourceType}/${id}/_history/1` } });
    }
    for (const resource of created) resources.set(resource.resourceType, [...stored(resource.resourceType), resolveReferences(resource, ids) as Stored]);
    return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: responses } };
  }

  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const answer = answers.shift() ?? { process: true };
      const reply = (status: number, json: unknown) => response.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(json));
      let bundle: Bundle;
      try {
        bundle = JSON.parse(body) as Bundle;
      } catch {
        return reply(400, outcome('The body is not JSON'));
      }
      requests.push({ headers: request.headers, bundle });
      if (!answer.process) return reply(answer.status ?? 500, outcome(answer.diagnostics ?? 'Unavailable'));
      const result = transaction(bundle);
      reply(answer.status ?? result.status, result.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    baseUrl: `http://127.0.0.1:${port}/fhir/R4`,
    requests,
    /** Resources held, by type. */
    resources,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type FhirServer = Awaited<ReturnType<typeof startFhirServer>>;
