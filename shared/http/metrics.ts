import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This service's Prometheus registry; plugins register their own counters on it. */
    metrics: Registry;
  }
}

/** `GET /metrics` in Prometheus text format: process metrics plus whatever the service registers. */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: { service: string }) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: options.service });
    collectDefaultMetrics({ register: registry, prefix: 'vapi_relay_' });
    app.decorate('metrics', registry);
    app.get('/metrics', async (_request, reply) =>
      reply.type(registry.contentType).send(await registry.metrics()),
    );
  },
  { name: 'metrics' },
);
