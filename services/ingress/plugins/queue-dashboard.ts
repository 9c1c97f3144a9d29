import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { ADMIN_PREFIX } from '#shared/http/admin-scope';
import { HttpError, sendHttpError } from '#shared/http/errors';
import { CONTENT_SECURITY_POLICY, contentSecurityPolicy } from '#shared/http/security-headers';
import type { CatalogQueues } from '#shared/plugins/queues';
import { QUEUES, type QueueKey } from '#shared/queues/catalog';

/** Where the dashboard lives inside the admin scope, and its full path (the page's base URL). */
const DASHBOARD_ROUTE = '/queues';
export const DASHBOARD_PATH = `${ADMIN_PREFIX}${DASHBOARD_ROUTE}`;

const READ_ONLY_NOTE = 'Read-only: replay or purge dead letters with the audited DLQ API or npm run dlq.';

const READ_METHODS = new Set(['GET', 'HEAD']);
const READ_ONLY = new HttpError(
  405,
  'READ_ONLY',
  `The queue dashboard is read-only; replay or purge dead letters with POST ${ADMIN_PREFIX}/dlq/replay or /purge (npm run dlq)`,
  {
    allow: 'GET, HEAD',
  },
);

/**
 * bull-board's page marks its loading screen up with inline styles and loads its typeface from
 * Google Fonts; its scripts are its own files, like everywhere else.
 */
const DASHBOARD_HEADERS = {
  contentSecurityPolicy: contentSecurityPolicy({
    ...CONTENT_SECURITY_POLICY,
    'style-src': ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
    'font-src': ["'self'", 'https://fonts.gstatic.com'],
  }),
};

/**
 * bull-board at `/admin/queues` (inside the admin scope) over every queue of the catalog, read-only:
 * it shows jobs as Redis holds them (clear ids and types, payloads sealed) and changes nothing. Job
 * changes go through the audited DLQ API, so a click cannot retry, remove, empty, clean, pause or
 * obliterate anything, nor add or edit a job: every adapter is read-only without retries, and any
 * route of the board registered with a method other than GET is refused here as well, whatever
 * bull-board's own handler would do.
 */
export async function queueDashboard(app: FastifyInstance, { queues }: { queues: CatalogQueues }) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: (Object.entries(queues) as [QueueKey, CatalogQueues[QueueKey]][]).map(
      ([key, queue]) => new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false, description: `${QUEUES[key].description}. ${READ_ONLY_NOTE}` }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'vapi-relay queues (read-only)' } },
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.helmet(DASHBOARD_HEADERS);
    const methods = ([] as string[]).concat(request.routeOptions.method ?? request.method);
    if (!methods.every((method) => READ_METHODS.has(method))) return sendHttpError(reply, READ_ONLY);
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_ROUTE });
}
