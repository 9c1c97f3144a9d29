import type { Queue } from 'bullmq';
import type { EventJob } from '#shared/queues';

export type IntakeOutcome = 'queued' | 'duplicate';

/**
 * Makes an event durable: resolves only once Redis holds the job. The event id is the job id, so a
 * redelivery while the job is retained is recognised (and answered as a duplicate) without being
 * added twice; after retention the worker's event log still processes it once.
 */
export async function enqueueEvent(queue: Queue<EventJob>, job: EventJob): Promise<IntakeOutcome> {
  if ((await queue.getJobState(job.eventId)) !== 'unknown') return 'duplicate';
  await queue.add(job.type, job, { jobId: job.eventId });
  return 'queued';
}
