import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

const PAGE = new URL('../public/index.html', import.meta.url);

/** `GET /`: the watch page (paste a token, see a call live), read once at start-up. */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const html = await readFile(PAGE, 'utf8');
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html));
}
