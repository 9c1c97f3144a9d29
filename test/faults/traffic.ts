import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { readEnvelope } from '#shared/vapi/envelope';
import { laneOf } from '#shared/vapi/message-types';
import { deriveEventId } from '../../services/ingress/lib/event-id.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { realisticCall, toolCallsOf, type VapiBody } from '../fixtures/vapi-call.ts';
import { hmacHeaders } from '../helpers/signing.ts';

/** A call the stream played to the end: every one of its events was answered 2xx. */
export interface PlayedCall {
  callId: string;
  patientId: string;
  finals: number;
}

/**
 * A steady stream of signed Vapi calls (status, partial and final transcripts, a tool call, the
 * end-of-call report), `concurrency` calls at a time. Like Vapi with a `backoffPlan`, an event not
 * answered 2xx (503, a refused connection while the ingress restarts) is sent again until it is,
 * except a live-only one, which is dropped; anything else (a 4xx, a 5xx other than 503, a tool call
 * with no result entry) is a failure.
 */
export class CallStream {
  /** Event ids the ingress answered 2xx for and must store (live-only events excluded). */
  readonly durable = new Set<string>();
  readonly played: PlayedCall[] = [];
  readonly failures: string[] = [];
  readonly counts = { sent: 0, accepted: 0, retried: 0, unavailable: 0, liveDropped: 0, toolResults: 0, toolErrors: 0 };
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly ingressUrl: string,
    private readonly concurrency: number,
    private readonly gapMs: number,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.concurrency }, async () => {
      while (this.running) await this.playCall();
    });
  }

  /** Lets every call in progress finish, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Plays one call to its end (for `patientId`, or a new patient); the loops call it back to back. */
  async playCall(patientId = `patient-${randomUUID().slice(0, 8)}`): Promise<PlayedCall> {
    const call = realisticCall({ patientId, startMs: Date.now() });
    const inProgress = call.events.findIndex((event) => event.message.status === 'in-progress');
    const toolCall = toolCallsOf(call, `tc-${randomUUID().slice(0, 8)}`, 'lookup_patient_info', {
      dateOfBirth: '1984-03-03',
      fullName: 'Fault Suite Caller',
    });
    const events = [...call.events.slice(0, inProgress + 1), toolCall, ...call.events.slice(inProgress + 1)];
    for (const event of events) {
      await this.send(event);
      await sleep(this.gapMs);
    }
    const played = { callId: call.callId, patientId, finals: call.finalTranscripts.length };
    this.played.push(played);
    return played;
  }

  private async send(event: VapiBody): Promise<void> {
    const raw = JSON.stringify(event);
    const envelope = readEnvelope(event)!;
    for (let attempt = 0; attempt < 1_200; attempt++) {
      this.counts.sent++;
      if (attempt > 0) this.counts.retried++;
      let status: number;
      let answer: unknown;
      try {
        const response = await fetch(`${this.ingressUrl}${WEBHOOK_PATH}`, {
          method: 'POST',
          body: raw,
          headers: hmacHeaders(raw),
          signal: AbortSignal.timeout(30_000),
        });
        status = response.status;
        answer = await response.json().catch(() => null);
      } catch {
        await sleep(250); // the ingress is restarting
        continue;
      }
      if (status === 503 && laneOf(envelope) === 'live') {
        // A partial transcript is worthless later: Vapi does not send it again, and neither does the stream.
        this.counts.liveDropped++;
        return;
      }
      if (status === 503) {
        this.counts.unavailable++;
        await sleep(250);
        continue;
      }
      if (status !== 200) {
        this.failures.push(`${envelope.type} answered ${status}: ${JSON.stringify(answer)}`);
        return;
      }
      this.counts.accepted++;
      if (laneOf(envelope) !== 'live') this.durable.add(deriveEventId(envelope, Buffer.from(raw)));
      if (envelope.type === 'tool-calls') this.checkToolAnswer(answer);
      return;
    }
    this.failures.push(`${envelope.type} never accepted`);
  }

  private checkToolAnswer(answer: unknown): void {
    const results = (answer as { results?: { result?: string; error?: string }[] } | null)?.results;
    if (!results || results.length !== 1) {
      this.failures.push(`tool-calls answered without one result: ${JSON.stringify(answer)}`);
      return;
    }
    if (typeof results[0]!.result === 'string') this.counts.toolResults++;
    else if (typeof results[0]!.error === 'string') this.counts.toolErrors++;
    else this.failures.push(`tool result with neither result nor error: ${JSON.stringify(answer)}`);
  }
}
