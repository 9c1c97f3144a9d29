import { obj, str, type IncomingEvent } from './envelope.ts';
import { callerIdentity, type CallerIdentity } from './read.ts';

/** What starts a session: who is calling, and what Vapi says about the call. */
export interface SessionOrigin {
  identity: CallerIdentity;
  callType?: string | undefined;
  assistantId?: string | undefined;
  phoneNumberId?: string | undefined;
  /** `vapi`, `story` or `chat`, kept in the session's metadata. */
  source: string;
}

/**
 * The origin an event gives its session, read the same way by the events lane and the tool path
 * (whichever writer creates the session first, it gets the same columns).
 */
export function sessionOriginOf(event: IncomingEvent): SessionOrigin {
  const call = obj(event.message.call);
  return {
    identity: callerIdentity(event.message),
    callType: str(call.type),
    assistantId: str(call.assistantId),
    phoneNumberId: str(call.phoneNumberId),
    source: event.callId ? event.source : 'chat',
  };
}
