import type { Vapi } from '@vapi-ai/server-sdk';
import type { IncomingEvent } from '#shared/vapi/envelope';
import { isReplied, type RepliedType } from '#shared/vapi/message-types';

/**
 * What Vapi reads from the HTTP answer to a message it waits on, typed by Vapi's own server SDK
 * (docs/connecting-vapi.md): every field its response type requires is there. Tool calls are
 * answered by the tool round trip (tool-replies.ts), not here.
 */
export type SyncReply =
  | Vapi.ServerMessageResponseAssistantRequest
  | Vapi.ServerMessageResponseTransferDestinationRequest
  | Vapi.ServerMessageResponseHandoffDestinationRequest
  | Vapi.ServerMessageResponseKnowledgeBaseRequest
  | Vapi.ServerMessageResponseCallEndpointingRequest
  | Vapi.ServerMessageResponseCampaignPredial
  | Vapi.ServerMessageResponseVoiceRequest;

/** Spoken to a caller whose call we cannot take (no assistant configured). */
const NO_ASSISTANT = 'This number is not taking calls right now. Please call the clinic directly.';

/** How long Vapi's smart endpointing waits after the caller stops before the assistant answers. */
const ENDPOINTING_TIMEOUT_S = 1;

/** One reply builder per type the table answers with a reply (`answer: 'reply'` in message-types.ts). */
const REPLIES: { [T in RepliedType]: (assistantId: string) => SyncReply } = {
  'assistant-request': (assistantId) => (assistantId ? { assistantId } : { error: NO_ASSISTANT }),
  'transfer-destination-request': () => ({ error: 'No transfer destination is configured.' }),
  'handoff-destination-request': () => ({ destination: {}, error: 'No handoff destination is configured.' }),
  'knowledge-base-request': () => ({ documents: [] }),
  'call.endpointing.request': () => ({ timeoutSeconds: ENDPOINTING_TIMEOUT_S }),
  'campaign.predial': () => ({ eligible: true }),
  'voice-request': () => ({ data: '' }),
};

/**
 * The answer for a message Vapi waits on (other than tool calls), or null for informational events
 * (answered `{"received": true}`). What the product does not support is answered with the
 * response type's required fields and a refusal Vapi handles: no transfer or handoff destination
 * (the assistant says it cannot transfer), no documents, empty audio for a custom voice request.
 */
export const syncReplyFor = (event: IncomingEvent, assistantId: string): SyncReply | null => (isReplied(event) ? REPLIES[event.type](assistantId) : null);
