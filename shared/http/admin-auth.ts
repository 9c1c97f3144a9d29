import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The token a request presents: `Authorization: Bearer <token>`, or Basic with any user and the token as password. */
function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization ?? '';
  const [scheme, value = ''] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

/**
 * Guards every `/admin/*` route of a service with `ADMIN_TOKEN`, compared in constant time. A
 * refusal asks for Basic credentials, so a browser opening the dashboard shows a login prompt.
 */
export const adminAuthPlugin = fp(
  async (app: FastifyInstance, { token }: { token: string }) => {
    const expected = digest(token);
    // Answered here rather than thrown: plugins under /admin (bull-board) bring error handlers of their own.
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/admin')) return;
      const given = presentedToken(request);
      if (given !== undefined && timingSafeEqual(digest(given), expected)) return;
      request.log.warn({ url: request.url.split('?')[0], ip: request.ip }, 'admin request refused');
      return reply
        .code(401)
        .header('www-authenticate', 'Basic realm="vapi-relay admin", charset="UTF-8"')
        .send({ success: false, code: 'UNAUTHORIZED', message: 'Admin routes need ADMIN_TOKEN (Bearer, or Basic with the token as password)' });
    });
  },
  { name: 'admin-auth' },
);
