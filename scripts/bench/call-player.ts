/**
 * Plays bench calls at speaking pace, in a process of its own (`fork`) so that it never competes
 * with the servers it measures inside their event loop. It receives call scripts over IPC, says
 * when it is ready (so that no call starts late and bursts to catch up), and, given the start, sends
 * each step when it is due over kept-alive connections, waits for the answer of the steps the
 * call waits on (a tool call: the assistant speaks once it has the result), and answers with each
 * step's send time, latency and status.
 */
import { now } from './clock.ts';
import { KeepAliveClient, type BenchRequest } from './keep-alive-client.ts';

export interface CallStep {
  request: BenchRequest;
  /** When it is sent: this many ms after the previous step was due, or after its answer when that one was awaited. */
  afterMs: number;
  /** The call waits for this step's answer before going on; its body is reported. */
  awaited?: boolean;
}

export interface CallScript {
  /** When the call starts, in ms after the plan's `startAt`. */
  startMs: number;
  steps: CallStep[];
}

export interface CallPlayPlan {
  url: string;
  calls: CallScript[];
}

/** The parent's go, once every player has said it is ready: epoch ms at which the first call starts. */
export interface CallPlayStart {
  startAt: number;
}

/** One call's steps, in script order: epoch ms sent, ms to the answer, HTTP status (0: no answer), and the awaited answers' bodies. */
export interface CallPlayReport {
  sentAt: number[];
  latencies: number[];
  statuses: number[];
  answers: (string | null)[];
}

/** At most this many connections per player, kept alive and shared by its calls. */
const MAX_SOCKETS = 256;

const until = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - now())));

async function play(client: KeepAliveClient, encoded: Buffer[], startAt: number, script: CallScript): Promise<CallPlayReport> {
  const report: CallPlayReport = { sentAt: [], latencies: [], statuses: [], answers: [] };
  const inFlight: Promise<void>[] = [];
  let due = startAt + script.startMs;
  for (const [i, step] of script.steps.entries()) {
    due += step.afterMs;
    await until(due);
    const sent = (report.sentAt[i] = now());
    const answered = client.send(encoded[i]!).then((answer) => {
      report.latencies[i] = now() - sent;
      report.statuses[i] = answer.status;
      report.answers[i] = step.awaited ? answer.body : null;
    });
    inFlight.push(answered);
    if (step.awaited) {
      await answered;
      due = now();
    }
  }
  await Promise.all(inFlight);
  return report;
}

// Two messages: the plan (answered "ready" once every request is encoded), then the start time.
let planned: { plan: CallPlayPlan; client: KeepAliveClient; encoded: Buffer[][] } | undefined;
process.on('message', (message: CallPlayPlan | CallPlayStart) => {
  if ('calls' in message) {
    const client = new KeepAliveClient(message.url, MAX_SOCKETS);
    planned = { plan: message, client, encoded: message.calls.map((script) => script.steps.map((step) => client.encode(step.request))) };
    process.send!('ready');
    return;
  }
  const { plan, client, encoded } = planned!;
  void Promise.all(plan.calls.map((script, i) => play(client, encoded[i]!, message.startAt, script))).then((reports) => {
    client.close();
    process.send!(reports, () => process.disconnect());
  });
});
