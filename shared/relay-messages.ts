import type { FieldCipher } from './crypto.ts';
import { patientChannel, type PatientChannelMessage, type RelayEvent } from './relay.ts';
import type { TraceCarrier } from './tracing.ts';

/**
 * What crosses Redis between the workers and the relays, sealed and bound to where it belongs
 * (AES-GCM additional data, as the job codec binds jobs): a relay event to its patient's channel,
 * and a call's binding to its call. Someone who can write to Redis can neither read them nor move
 * them: an event copied onto another patient's channel does not open there, and a binding copied to
 * another call, or written by hand, is no binding at all.
 */
const channelData = (patientId: string) => JSON.stringify(['relay-channel', patientId]);
const bindingData = (callId: string) => JSON.stringify(['call-binding', callId]);

/** A channel message as sealed: the message, and the trace context of the dispatch that published it (tracing on). */
export type Traced<M> = M & { trace?: TraceCarrier };

/** A message (a relay event, or word of the patient's erasure) as published on `patientId`'s channel, its trace context sealed with it. */
export const sealForPatient = (cipher: FieldCipher, patientId: string, message: PatientChannelMessage, trace?: TraceCarrier): string =>
  cipher.encryptJson(trace ? { ...message, trace } : message, channelData(patientId));

/** A message read on `patientId`'s channel; throws (DecryptionError) for one sealed for anyone else, or not by us. */
export const openForPatient = <M extends PatientChannelMessage = RelayEvent>(cipher: FieldCipher, patientId: string, message: string): Traced<M> =>
  cipher.decryptJson<Traced<M>>(message, channelData(patientId));

/** The patient whose channel this is, or undefined for a channel that is no patient's. */
export function patientOfChannel(prefix: string, channel: string): string | undefined {
  const start = patientChannel(prefix, '');
  return channel.startsWith(start) ? channel.slice(start.length) : undefined;
}

/** The value of a call's binding key: the patient, sealed to the call. */
export const sealBinding = (cipher: FieldCipher, callId: string, patientId: string): string => cipher.encrypt(patientId, bindingData(callId));

/** The patient a call's binding key names, or null when there is none or it does not open for this call. */
export function openBinding(cipher: FieldCipher, callId: string, stored: string | null): string | null {
  if (stored === null) return null;
  try {
    return cipher.decrypt(stored, bindingData(callId));
  } catch {
    return null;
  }
}
