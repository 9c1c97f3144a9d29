import { z } from 'zod';
import type { LiveRelayEvent } from '../relay.ts';
import { defineQueue } from './definition.ts';
import { UNKEPT_JOBS } from './lifetimes.ts';

/** What a live job carries, sealed: the event to show, and whom the event itself says the call is about. */
export interface LiveJobPayload {
  event: LiveRelayEvent;
  /**
   * The event's `call.metadata.patientId` (the signed claim the durable lane binds a call by), or
   * null: whom to show it to while the durable lane has bound the call to nobody yet, so a call's
   * first words are shown (docs/relay.md, "Protocol").
   */
  claimedPatientId: string | null;
}

/** A live job's clear fields. */
const liveMeta = z.object({ callId: z.string().min(1), type: z.string().min(1), receivedAt: z.iso.datetime() });

export type LiveMeta = z.infer<typeof liveMeta>;

/**
 * `vapi-live`: what is only worth showing live (partial transcripts, speech starts and stops),
 * from the ingress to a worker that publishes it to the call's patient. One attempt and no
 * retention: a late partial is worse than none, and nothing of it is ever stored.
 */
export const liveQueue = defineQueue<LiveMeta, LiveJobPayload>({
  name: 'vapi-live',
  description: 'Live-only events to relay (partial transcripts, speech)',
  meta: liveMeta,
  options: { attempts: 1, ...UNKEPT_JOBS },
});
