import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

/** The watch page and the files it loads: its script and style are files of their own, so the CSP allows no inline code. */
const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/watch.js', file: 'watch.js', type: 'text/javascript; charset=utf-8' },
  { path: '/watch.css', file: 'watch.css', type: 'text/css; charset=utf-8' },
];

/** `GET /`: the watch page (paste a token, see a call live), and its script and style, read once at start-up. */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  for (const { path, file, type } of ASSETS) {
    const body = await readFile(new URL(`../public/${file}`, import.meta.url), 'utf8');
    app.get(path, async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
