import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { QUEUES } from '#shared/queues/catalog';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board at `/admin/queues` (behind ADMIN_TOKEN like every admin route) over every queue of
 * the catalog. It shows jobs as Redis holds them: clear ids and types, payloads sealed.
 */
export async function queueDashboard(app: FastifyInstance) {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: Object.entries(app.queues).map(
      ([key, queue]) => new BullMQAdapter(queue, { description: QUEUES[key as keyof typeof QUEUES].description }),
    ),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'vapi-relay queues' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
}
