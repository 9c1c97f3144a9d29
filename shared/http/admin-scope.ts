import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { bearerToken } from './authorization.ts';
import { HttpError, replyNotFound, sendHttpError } from './errors.ts';

/** Where the admin scope is mounted, on whichever listener serves it. */
export const ADMIN_PREFIX = '/admin';

/** Methods that only read; any other changes state, and must come from the admin's own origin. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// Answered from hooks rather than thrown: plugins in the scope (bull-board) bring error handlers of their own.
const UNAUTHORIZED = new HttpError(401, 'UNAUTHORIZED', 'Admin routes need ADMIN_TOKEN (Bearer, or Basic with the token as password)', {
  'www-authenticate': 'Basic realm="vapi-relay admin", charset="UTF-8"',
});
const CROSS_ORIGIN = new HttpError(403, 'FORBIDDEN', 'A state-changing admin request must come from the admin origin itself');

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The token a request presents: `Authorization: Bearer <token>`, or Basic with any user and the token as password. */
function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization ?? '';
  const bearer = bearerToken(header);
  if (bearer !== undefined) return bearer;
  const [scheme, value = ''] = header.split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

/** `host` as a URL of this scheme writes it (the scheme's default port left out), or undefined if it is not a host. */
const normalHost = (protocol: string, host: string | undefined) => (URL.canParse(`${protocol}//${host}`) ? new URL(`${protocol}//${host}`).host : undefined);

/**
 * Whether a browser sent this request for a page of another origin: it says so in `Sec-Fetch-Site`,
 * or its `Origin` names another host than the one it asked. A request with neither (curl, a script)
 * is not a browser's, and the token alone decides.
 */
function fromAnotherOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const { origin } = request.headers;
  if (origin === undefined) return false;
  if (!URL.canParse(origin)) return true;
  const { protocol, host } = new URL(origin);
  return normalHost(protocol, request.host) !== host;
}

export interface AdminScopeOptions {
  token: string;
  /** What the role serves to operators (the ingress: its dashboard and API); the other roles serve nothing. */
  content?: FastifyPluginAsync;
}

/**
 * The admin surface of a role, an encapsulated plugin (no fastify-plugin): its hooks run for exactly
 * the routes registered inside it, however the URL that the router resolved to them was spelled
 * (percent-encoding, an absolute-form target), and its own not-found handler keeps unmatched
 * `/admin/...` paths behind the token too, so nothing there can even be enumerated without it.
 * The token is compared in constant time; a refusal asks for Basic credentials, so a browser
 * opening the dashboard shows a login prompt. A state-changing request from another origin is
 * refused even with the token (a logged-in browser must not be driven by another site).
 */
async function adminScope(scope: FastifyInstance, { token, content }: AdminScopeOptions) {
  const expected = digest(token);
  scope.addHook('onRequest', async (request, reply) => {
    const given = presentedToken(request);
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      request.log.warn({ path: request.url.split('?')[0], ip: request.ip }, 'admin request refused');
      return sendHttpError(reply, UNAUTHORIZED);
    }
    if (!SAFE_METHODS.has(request.method) && fromAnotherOrigin(request)) {
      request.log.warn({ path: request.url.split('?')[0], ip: request.ip, origin: request.headers.origin }, 'cross-origin admin request refused');
      return sendHttpError(reply, CROSS_ORIGIN);
    }
  });
  scope.setNotFoundHandler(replyNotFound);
  if (content) await scope.register(content);
}

/** Mounts a role's admin scope at `/admin` on `app`: every role has one, so `/admin/...` is guarded everywhere. */
export async function registerAdminScope(app: FastifyInstance, options: AdminScopeOptions): Promise<void> {
  await app.register(adminScope, { ...options, prefix: ADMIN_PREFIX });
}
