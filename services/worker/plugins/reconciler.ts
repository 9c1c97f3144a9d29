import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { createReconciler } from '../lib/reconciler.ts';
import { createVapiCalls, type VapiCallsOptions } from '../lib/vapi-calls.ts';
import { createReconcilerMetrics } from '../metrics.ts';

/** How patiently Vapi's API is asked; the defaults unless a test shortens them. */
export type ReconcileTuning = Pick<VapiCallsOptions, 'timeoutMs' | 'retries' | 'minRetryMs'>;

/**
 * Owns the worker's reconciler (docs/reliability.md, "Calls whose report never came"), in processes
 * that consume the events queue (they store what it hands over): started when the app is ready; on
 * close its API requests are ended and the sweep in flight awaited.
 */
export const reconcilerPlugin = fp(
  async (app: FastifyInstance, { config, tuning = {} }: { config: WorkerConfig; tuning?: ReconcileTuning }) => {
    const { afterS, vapiApiKey, vapiApiUrl } = config.reconcile;
    const stopping = new AbortController();
    const fetchCall = vapiApiKey ? createVapiCalls({ url: vapiApiUrl, apiKey: vapiApiKey, signal: stopping.signal, ...tuning }) : null;
    const { reconciled } = createReconcilerMetrics(app.metrics);
    const reconciler = createReconciler({
      db: app.db,
      codec: app.jobCodec,
      events: app.queues.events,
      fetchCall,
      afterS,
      logger: app.log,
      onOutcome: (outcome) => reconciled.inc({ outcome }),
    });
    app.addHook('onReady', async () => reconciler.start());
    app.addHook('onClose', async () => {
      stopping.abort();
      await reconciler.stop();
    });
  },
  { name: 'reconciler', dependencies: ['database', 'cipher', 'queues', 'metrics'] },
);
