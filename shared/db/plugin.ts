import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createDatabase, type Database } from './client';

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

/** Opens the Postgres pool for a service, decorates it, and closes it when the app closes. */
export const databasePlugin = fp(
  async (app: FastifyInstance, { url, max }: { url: string; max?: number }) => {
    const handle = createDatabase(url, max === undefined ? {} : { max });
    app.decorate('db', handle.db);
    app.addReadinessCheck('postgres', () => handle.sql`select 1`);
    app.addHook('onClose', () => handle.close());
  },
  { name: 'database', dependencies: ['health'] },
);
