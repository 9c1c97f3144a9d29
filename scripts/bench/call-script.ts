import type { CallScript, CallStep } from './call-player.ts';
import type { BenchRequest } from './keep-alive-client.ts';

/** What the bench measures a step by: a partial or final transcript (by its relay key), a tool call, or nothing. */
export type StepMark = { kind: 'partial' | 'final'; key: string } | { kind: 'tool' } | null;

/** The key of a transcript as the patient's app receives it: call, partial or final, text. */
export const transcriptKey = (sessionId: string, final: boolean, transcript: string) => `${sessionId}|${final ? 'final' : 'partial'}|${transcript}`;

/** A short booking conversation: eight utterances, assistant first; the tool call comes after the fourth. */
const UTTERANCES = [
  'Hello, this is the Riverside Clinic assistant. How can I help you today?',
  'Hi, I would like to book a visit with my family doctor next week.',
  'Of course. Could you tell me which day would suit you best?',
  'Tuesday or Wednesday morning would be ideal for me, if possible.',
  'I have a few morning slots open that day. Shall I book the first one?',
  'Yes please, the first one works for me, thank you very much.',
  'You are all set. Is there anything else I can help you with today?',
  'No, that is everything for now. Thank you and goodbye.',
];
const TOOL_AFTER_UTTERANCE = 4;
const PARTIALS = 6;
/** Speaking pace: partials this far apart, and the same pause between utterances. */
const PACE_MS = 150;

export interface BenchCall {
  id: string;
  patientId: string;
  /** The day `check_availability` is asked about (YYYY-MM-DD). */
  date: string;
}

/**
 * One realistic call at speaking pace, every message signed by `sign`: ringing, in progress 200 ms
 * later, eight utterances (each a speech start, six replacement-style partials, the final, the
 * speech stop and the conversation so far), a `check_availability` call after the fourth that the
 * call waits on, the end, and the end-of-call report with its artifact. Timestamps are the times
 * the steps are due, counted from `startAt`.
 */
export function callScript(
  call: BenchCall,
  startAt: number,
  startMs: number,
  sign: (body: string) => Record<string, string>,
): { script: CallScript; marks: StepMark[] } {
  const vapiCall = { id: call.id, orgId: 'org-bench', type: 'inboundPhoneCall', customer: { number: '+15550100000' }, metadata: { patientId: call.patientId } };
  const steps: CallStep[] = [];
  const marks: StepMark[] = [];
  let at = startAt + startMs;
  const step = (afterMs: number, message: Record<string, unknown>, mark: StepMark = null, awaited = false) => {
    at += afterMs;
    const body = JSON.stringify({ message: { timestamp: at, call: vapiCall, ...message } });
    const request: BenchRequest = { body, headers: sign(body) };
    steps.push({ request, afterMs, ...(awaited ? { awaited } : {}) });
    marks.push(mark);
  };
  const conversation: Record<string, unknown>[] = [];

  step(0, { type: 'status-update', status: 'ringing' });
  step(200, { type: 'status-update', status: 'in-progress' });
  UTTERANCES.forEach((text, turn) => {
    if (turn === TOOL_AFTER_UTTERANCE) {
      const toolCall = { id: `call_${call.id}_slots`, type: 'function', function: { name: 'check_availability', arguments: { date: call.date } } };
      step(
        PACE_MS,
        { type: 'tool-calls', toolCallList: [toolCall], toolWithToolCallList: [{ type: 'function', function: { name: 'check_availability' }, toolCall }] },
        { kind: 'tool' },
        true,
      );
    }
    const role = turn % 2 === 0 ? 'assistant' : 'user';
    const words = text.split(' ');
    step(PACE_MS, { type: 'speech-update', role, status: 'started', turn });
    for (let i = 1; i <= PARTIALS; i++) {
      const transcript = words.slice(0, Math.ceil((i * words.length) / (PARTIALS + 1))).join(' ');
      step(PACE_MS, { type: 'transcript', role, transcriptType: 'partial', transcript }, { kind: 'partial', key: transcriptKey(call.id, false, transcript) });
    }
    step(PACE_MS, { type: 'transcript', role, transcriptType: 'final', transcript: text }, { kind: 'final', key: transcriptKey(call.id, true, text) });
    step(0, { type: 'speech-update', role, status: 'stopped', turn });
    conversation.push({ role: role === 'assistant' ? 'bot' : 'user', message: text, time: at, secondsFromStart: (at - startAt - startMs) / 1000 });
    step(0, { type: 'conversation-update', messages: [...conversation], messagesOpenAIFormatted: [] });
  });
  step(PACE_MS, { type: 'status-update', status: 'ended', endedReason: 'assistant-ended-call' });
  step(200, {
    type: 'end-of-call-report',
    endedReason: 'assistant-ended-call',
    startedAt: new Date(startAt + startMs).toISOString(),
    endedAt: new Date(at).toISOString(),
    cost: 0.0421,
    artifact: { messages: conversation, transcript: conversation.map((m) => `${m.role === 'bot' ? 'AI' : 'User'}: ${String(m.message)}`).join('\n') },
    analysis: { summary: 'The patient booked a visit.', successEvaluation: 'true' },
  });
  return { script: { startMs, steps }, marks };
}
