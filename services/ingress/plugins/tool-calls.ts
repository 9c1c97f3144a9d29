import { createHash } from 'node:crypto';
import { Job, QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { IngressConfig } from '#shared/config';
import { withDeadline } from '#shared/deadline';
import { toolsQueue, type ToolCallContext, type ToolJobResult } from '#shared/queues/tools-queue';
import { redisErrorHandler } from '#shared/redis';
import type { ToolCallRequest } from '#shared/vapi/read';

declare module 'fastify' {
  interface FastifyInstance {
    /** Runs tool calls on the workers and waits for their answers, each an error sentence at worst. */
    runTools(calls: ToolCallRequest[], context: ToolCallContext, requestId: string): Promise<ToolJobResult[]>;
  }
}

/** Said when no answer came in time (a worker down, Redis gone, a slow tool). */
const NO_ANSWER = 'I could not get that information in time. Please try again in a moment.';

/**
 * What names a tool call's job: its session and id. Without a session, ids are the sender's own
 * (a tester reuses `1`), so the call's name and arguments are part of it too: a redelivery waits
 * for the same job, another test with the same id does not get the first one's answer.
 */
const jobKeyOf = (call: ToolCallRequest, { sessionId }: ToolCallContext) =>
  sessionId === null ? `\0${call.id}\0${call.name}\0${JSON.stringify(call.arguments)}` : `${sessionId}\0${call.id}`;

/**
 * Tool calls as request/response over the `vapi-tools` queue (docs/connecting-vapi.md, "Tools"):
 * one job per call, all of a message's calls at once, each awaited through BullMQ's queue events
 * until the deadline. The job id is derived from the session and the tool call id, so Vapi
 * redelivering a message waits for the same job instead of running the tool again.
 */
export const toolCallsPlugin = fp(
  async (app: FastifyInstance, { config }: { config: IngressConfig }) => {
    // Queue events read a stream with a blocking command: a connection of their own.
    const connection = app.redis.dedicated();
    const events = new QueueEvents(toolsQueue.name, { connection, prefix: config.queuePrefix });
    events.on('error', redisErrorHandler(app.redis.target, app.log, {}, 'tool queue events error'));

    async function runOne(call: ToolCallRequest, context: ToolCallContext, requestId: string, deadline: number): Promise<ToolJobResult> {
      const meta = { sessionId: context.sessionId, toolCallId: call.id, name: call.name, deadline, requestId };
      const jobId = createHash('sha256').update(jobKeyOf(call, context)).digest('hex');
      try {
        // BullMQ would wait for a connection that is down: no Redis, no tool run, an answer now.
        if (app.redis.producer.status !== 'ready') throw new Error(`Redis connection is ${app.redis.producer.status}`);
        const job = await withDeadline(
          app.queues.tools.add(call.name || 'unknown', app.jobCodec.seal(toolsQueue, meta, { arguments: call.arguments, context }), { jobId }),
          Math.max(1, deadline - Date.now()),
          'tool enqueue',
        );
        const sealed: unknown = await job.waitUntilFinished(events, Math.max(1, deadline - Date.now())).catch(async (error: unknown) => {
          // An answer that came while the event reader was (re)connecting is in the job, not in the stream.
          const finished = await Job.fromId(app.queues.tools, job.id!);
          if (typeof finished?.returnvalue === 'string') return finished.returnvalue;
          throw error;
        });
        if (typeof sealed !== 'string') throw new Error('tool job returned no sealed result');
        // Bound to this job's id: another call's answer copied here does not open.
        return app.jobCodec.openResult(toolsQueue, job.id!, sealed);
      } catch (error) {
        app.log.warn({ err: error, sessionId: context.sessionId, toolCallId: call.id, tool: call.name }, 'tool call unanswered');
        return { error: NO_ANSWER };
      }
    }

    app.decorate('runTools', (calls: ToolCallRequest[], context: ToolCallContext, requestId: string) => {
      const deadline = Date.now() + config.toolDeadlineMs;
      return Promise.all(calls.map((call) => runOne(call, context, requestId, deadline)));
    });
    // Take answers from the stream before the first request arrives; a Redis that is not there does not hold up the start.
    app.addHook('onReady', async () => {
      await withDeadline(events.waitUntilReady(), 3_000, 'tool queue events').catch((error: unknown) =>
        app.log.warn({ err: error }, 'tool answers not readable yet'),
      );
    });
    app.addHook('onClose', async () => {
      // BullMQ's close waits for the connection to be up first: with Redis gone, dropping it is the close.
      if (connection.status === 'ready') await events.close();
      else connection.disconnect();
    });
  },
  { name: 'tool-calls', dependencies: ['queues', 'redis', 'cipher'] },
);
