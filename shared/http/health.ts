import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { withDeadline } from '../deadline.ts';

/** A dependency the service cannot work without; resolves when it answers. */
export type ReadinessCheck = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** Registers a dependency that `/readyz` checks; each plugin adds the ones it opened. */
    addReadinessCheck(name: string, check: ReadinessCheck): void;
  }
}

/**
 * `GET /healthz`: the process is alive. `GET /readyz`: every dependency answers; 503 names the ones
 * that do not, so a load balancer stops routing here and an operator sees why.
 */
export const healthPlugin = fp(
  async (app: FastifyInstance) => {
    const checks = new Map<string, ReadinessCheck>();
    app.decorate('addReadinessCheck', (name: string, check: ReadinessCheck) => {
      checks.set(name, check);
    });
    app.get('/healthz', async () => ({ status: 'ok' }));
    app.get('/readyz', async (request, reply) => {
      const names = [...checks.keys()];
      const results = await Promise.allSettled(names.map((name) => withDeadline(checks.get(name)!(), CHECK_TIMEOUT_MS, name)));
      const report = Object.fromEntries(names.map((name, i) => [name, results[i]!.status === 'fulfilled' ? 'ok' : 'unavailable']));
      const ready = results.every((result) => result.status === 'fulfilled');
      results.forEach((result, i) => {
        // The reason's message, not its stack: a probe every few seconds during an outage repeats it.
        if (result.status === 'rejected')
          request.log.warn({ check: names[i], reason: String((result.reason as Error)?.message ?? result.reason) }, 'readiness check failed');
      });
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: report });
    });
  },
  { name: 'health' },
);
