import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { toolsQueue } from '#shared/queues/tools-queue';
import type { ToolDefinition } from '../tools/define-tool.ts';
import { TOOLS } from '../tools/registry.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';
import { createToolRunner } from '../lib/tool-runner.ts';

/** Tool calls are short and the caller is waiting: enough at once that one slow tool holds up no other. */
const TOOLS_CONCURRENCY = 32;

/** Consumes `vapi-tools`: runs each tool call for its session and hands the answer back through the queue. */
export const toolsWorkerPlugin = fp(
  async (app: FastifyInstance, { config, tools = TOOLS }: { config: WorkerConfig; tools?: ReadonlyMap<string, ToolDefinition> }) => {
    const runTool = createToolRunner({ db: app.db, cipher: app.cipher, tools, onCommit: (committed) => app.outbox.handOff(committed), logger: app.log });
    registerQueueWorker(
      app,
      { queue: toolsQueue, concurrency: TOOLS_CONCURRENCY, knownNames: new Set(tools.keys()), handle: (payload, meta) => runTool(meta, payload) },
      config.queuePrefix,
    );
  },
  { name: 'tools-worker', dependencies: ['database', 'cipher', 'outbox', 'metrics'] },
);
