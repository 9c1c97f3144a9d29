import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

const SCRIPT = 'text/javascript; charset=utf-8';
/** The watch page and the files it loads: its scripts and style are files of their own, so the CSP allows no inline code. */
const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
  ...['app.js', 'api.js', 'call-view.js', 'live.js'].map((file) => ({ path: `/${file}`, file, type: SCRIPT })),
];

/** `GET /`: the watch page (paste a token: the patient's calls, one opened, live ones followed), read once at start-up. */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  for (const { path, file, type } of ASSETS) {
    const body = await readFile(new URL(`../public/${file}`, import.meta.url), 'utf8');
    app.get(path, async (_request, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
}
