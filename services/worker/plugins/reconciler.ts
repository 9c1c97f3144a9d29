import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { WorkerConfig } from '#shared/config';
import { createReconciler } from '../lib/reconciler.ts';
import { createVapiCalls, type VapiCallsOptions } from '../lib/vapi-calls.ts';

/** How patiently Vapi's API is asked; the defaults unless a test shortens them. */
export type ReconcileTuning = Pick<VapiCallsOptions, 'timeoutMs' | 'retries' | 'minRetryMs'>;

/**
 * Owns the worker's reconciler (DESIGN 20), in processes that consume the events queue (they store
 * what it hands over): started when the app is ready; on close its API requests are ended and the
 * sweep in flight awaited.
 */
export const reconcilerPlugin = fp(
  async (app: FastifyInstance, { config, tuning = {} }: { config: WorkerConfig; tuning?: ReconcileTuning }) => {
    const { afterS, vapiApiKey, vapiApiUrl } = config.reconcile;
    const stopping = new AbortController();
    const fetchCall = vapiApiKey ? createVapiCalls({ url: vapiApiUrl, apiKey: vapiApiKey, signal: stopping.signal, ...tuning }) : null;
    const reconciled = new Counter({
      name: 'vapi_relay_reconciled_sessions_total',
      help: 'Silent sessions reconciled, by outcome (vapi-api, timeout = report-missing, still-live, failed)',
      labelNames: ['outcome'],
      registers: [app.metrics],
    });
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
