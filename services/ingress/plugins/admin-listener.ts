import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { IngressConfig } from '#shared/config';
import { registerAdminScope, type AdminScopeOptions } from '#shared/http/admin-scope';
import { createHttpApp, type ListenerOptions } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';

declare module 'fastify' {
  interface FastifyInstance {
    /** The ingress's admin listener, when `ADMIN_PORT` gives the admin scope a port of its own. */
    adminListener?: FastifyInstance;
  }
}

export interface AdminListenerOptions {
  listen: NonNullable<IngressConfig['adminListener']>;
  logger: Logger;
  listener: ListenerOptions;
  scope: AdminScopeOptions;
}

/**
 * `ADMIN_PORT`: the whole admin scope on a second listener of the same process (an HTTP app of
 * its own, with nothing else routed on it), so the webhook port routes no `/admin` path at all and
 * the admin port can be bound to a private address. It is opened while the ingress starts (before
 * the webhook port, so a port in use stops start-up) and closed when the ingress closes, before the
 * queues and the database its routes use.
 */
export const adminListenerPlugin = fp(
  async (app: FastifyInstance, { listen, logger, listener, scope }: AdminListenerOptions) => {
    const admin = await createHttpApp('ingress', logger.child({ listener: 'admin' }), listener);
    await registerAdminScope(admin, scope);
    app.decorate('adminListener', admin);
    app.addHook('onReady', async () => {
      await admin.listen(listen);
    });
    app.addHook('onClose', async () => {
      await admin.close();
    });
  },
  { name: 'admin-listener' },
);
