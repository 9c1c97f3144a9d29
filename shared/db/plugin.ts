import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createDatabase, type Database } from './client.ts';

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

/**
 * Opens the Postgres pool for a service, decorates it, and closes it when the app closes. It is a
 * readiness input unless the service's main work does not need it (`ready: false`).
 */
export const databasePlugin = fp(
  async (app: FastifyInstance, { url, max, ready = true }: { url: string; max?: number; ready?: boolean }) => {
    const handle = createDatabase(url, max === undefined ? {} : { max });
    app.decorate('db', handle.db);
    if (ready) app.addReadinessCheck('postgres', () => handle.sql`select 1`);
    app.addHook('onClose', () => handle.close());
  },
  { name: 'database', dependencies: ['health'] },
);
