/**
 * The bench's load generator, run in a process of its own (`fork`) so that it never competes with
 * the servers it measures inside their event loop. It receives a plan over IPC, sends signed
 * POSTs over kept-alive connections, and answers with each request's send time and latency.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadPlan {
  url: string;
  /** Pre-built requests: body and headers. */
  requests: { body: string; headers: Record<string, string> }[];
  /** Either at most this many in flight, as fast as they complete... */
  concurrency?: number;
  /** ...or this many requests a second, paced. */
  perSecond?: number;
}

export interface LoadReport {
  /** Epoch ms (with sub-ms precision) when each request was sent, in plan order. */
  sentAt: number[];
  latencies: number[];
  failures: number;
  seconds: number;
}

const now = () => performance.timeOrigin + performance.now();

function post(agent: http.Agent, url: string, body: string, headers: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode === 200));
    });
    request.on('error', () => resolve(false));
    request.end(body);
  });
}

async function run(plan: LoadPlan): Promise<LoadReport> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: plan.concurrency ?? 256 });
  const sentAt: number[] = new Array(plan.requests.length);
  const latencies: number[] = new Array(plan.requests.length);
  let failures = 0;
  const send = async (i: number) => {
    const { body, headers } = plan.requests[i]!;
    sentAt[i] = now();
    if (!(await post(agent, plan.url, body, headers))) failures++;
    latencies[i] = now() - sentAt[i]!;
  };
  const started = now();
  if (plan.perSecond) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < plan.requests.length; i++) {
      const due = started + (i * 1000) / plan.perSecond;
      const wait = due - now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      inFlight.push(send(i));
    }
    await Promise.all(inFlight);
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: plan.concurrency ?? 32 }, async () => {
        while (next < plan.requests.length) await send(next++);
      }),
    );
  }
  agent.destroy();
  return { sentAt, latencies, failures, seconds: (now() - started) / 1000 };
}

process.on('message', (plan: LoadPlan) => {
  void run(plan).then((report) => {
    // Disconnect only once the report is written: a large one would otherwise be cut off.
    process.send!(report, () => process.disconnect());
  });
});
