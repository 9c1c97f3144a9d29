/**
 * The bench's paced load generator, run in a process of its own (`fork`) so that it never competes
 * with the servers it measures inside their event loop. It receives a plan over IPC, sends signed
 * POSTs over kept-alive connections, and answers with each request's send time and latency: what
 * autocannon (cannon.ts), which measures throughput, does not give. The ingress section shows it
 * keeps up with autocannon on a bare route.
 */
import { now } from './clock.ts';
import { KeepAliveClient, type BenchRequest } from './keep-alive-client.ts';

export interface LoadPlan {
  url: string;
  /** Pre-built requests: body and headers. */
  requests: BenchRequest[];
  /** Either at most this many in flight, as fast as they complete... */
  concurrency?: number;
  /** ...or this many requests a second, paced. */
  perSecond?: number;
}

export interface LoadReport {
  /** Epoch ms (with sub-ms precision) when each request was sent, in plan order. */
  sentAt: number[];
  latencies: number[];
  /** Requests not answered 2xx. */
  failures: number;
  seconds: number;
}

async function run(plan: LoadPlan): Promise<LoadReport> {
  const client = new KeepAliveClient(plan.url, plan.concurrency ?? 256);
  // Encoded before the clock starts, so the run measures sending, not string building.
  const encoded = plan.requests.map((request) => client.encode(request));
  const sentAt: number[] = new Array(encoded.length);
  const latencies: number[] = new Array(encoded.length);
  let failures = 0;
  const send = async (i: number) => {
    sentAt[i] = now();
    const { status } = await client.send(encoded[i]!);
    if (status < 200 || status >= 300) failures++;
    latencies[i] = now() - sentAt[i]!;
  };
  const started = now();
  if (plan.perSecond) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < encoded.length; i++) {
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
        while (next < encoded.length) await send(next++);
      }),
    );
  }
  client.close();
  return { sentAt, latencies, failures, seconds: (now() - started) / 1000 };
}

process.on('message', (plan: LoadPlan) => {
  void run(plan).then((report) => {
    // Disconnect only once the report is written: a large one would otherwise be cut off.
    process.send!(report, () => process.disconnect());
  });
});
