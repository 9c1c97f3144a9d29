/**
 * Full-speed HTTP load: autocannon, run in a process of its own (`fork`) so that it never competes
 * with the servers it measures inside their event loop. It receives pre-built signed requests over
 * IPC and sends each exactly once (every body its own, so none is a duplicate of another), then
 * answers with the rate and latencies autocannon measured.
 */
import autocannon, { type Request } from 'autocannon';
import type { BenchRequest } from './keep-alive-client.ts';

export interface CannonPlan {
  url: string;
  requests: BenchRequest[];
  connections: number;
}

export interface CannonReport {
  perSecond: number;
  /** Latency in ms, as autocannon's histogram gives it. */
  p50: number;
  p99: number;
  /** Answers other than 2xx, connection errors and timeouts. */
  failures: number;
  sent: number;
}

async function run(plan: CannonPlan): Promise<CannonReport> {
  let next = 0;
  const result = await autocannon({
    url: plan.url,
    method: 'POST',
    connections: plan.connections,
    amount: plan.requests.length,
    // autocannon ends a run at its next sample: every second by default, which would round the duration up to whole seconds.
    sampleInt: 10,
    // One request definition whose body and headers are the next pre-built request each time.
    requests: [
      {
        setupRequest: (request: Request) => Object.assign(request, plan.requests[next++ % plan.requests.length]),
      },
    ],
  });
  if (next > plan.requests.length) throw new Error(`autocannon asked for ${next} requests of ${plan.requests.length}: some were sent twice`);
  return {
    perSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    sent: result.requests.sent,
  };
}

process.on('message', (plan: CannonPlan) => {
  void run(plan).then(
    (report) => process.send!(report, () => process.disconnect()),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
