import type { Vapi } from '@vapi-ai/server-sdk';
import type { IncomingEvent } from '#shared/vapi/envelope';

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

/**
 * The answer for a message Vapi waits on (other than tool calls), or null for informational events
 * (answered `{"received": true}`). What the product does not support is answered with the
 * response type's required fields and a refusal Vapi handles: no transfer or handoff destination
 * (the assistant says it cannot transfer), no documents, empty audio for a custom voice request.
 */
export function syncReplyFor(event: IncomingEvent, assistantId: string): SyncReply | null {
  switch (event.type) {
    case 'assistant-request':
      return assistantId ? { assistantId } : { error: NO_ASSISTANT };
    case 'transfer-destination-request':
      return { error: 'No transfer destination is configured.' };
    case 'handoff-destination-request':
      return { destination: {}, error: 'No handoff destination is configured.' };
    case 'knowledge-base-request':
      return { documents: [] };
    case 'call.endpointing.request':
      return { timeoutSeconds: ENDPOINTING_TIMEOUT_S };
    case 'campaign.predial':
      return { eligible: true };
    case 'voice-request':
      return { data: '' };
    default:
      return null;
  }
}
