import { num } from '#shared/vapi/envelope';
import type { Turns } from '#shared/vapi/read';

/** The story's `generateSessionSummary`: what an operator or the patient wants to know about a call. */
export interface SessionSummary {
  durationSeconds: number | null;
  turns: Turns;
  toolsUsed: string[];
  endedReason: string | null;
  /** Vapi's own analysis summary, when it produced one. */
  vapiSummary: string | null;
  /** All of the above as sentences (stored encrypted, shown to the patient). */
  text: string;
}

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;

function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  return minutes > 0 ? `${minutes} min ${whole % 60} s` : `${whole} s`;
}

export interface SummaryInput {
  startedAt: Date | null;
  endedAt: Date | null;
  /** Used when start and end are not both known (legacy reports carry `durationSeconds`). */
  reportedDurationSeconds?: number | undefined;
  turns: Turns;
  toolsUsed: string[];
  endedReason: string | null;
  vapiSummary: string | null;
}

export function generateSessionSummary(input: SummaryInput): SessionSummary {
  const measured = input.startedAt && input.endedAt ? Math.max(0, (input.endedAt.getTime() - input.startedAt.getTime()) / 1000) : undefined;
  const durationSeconds = measured ?? num(input.reportedDurationSeconds) ?? null;
  const sentences = [
    durationSeconds === null ? 'Call duration unknown.' : `Call lasted ${formatDuration(durationSeconds)}.`,
    `${plural(input.turns.user, 'patient turn')}, ${plural(input.turns.assistant, 'assistant turn')}.`,
    input.toolsUsed.length > 0 ? `Tools used: ${input.toolsUsed.join(', ')}.` : 'No tools used.',
    input.endedReason ? `Ended: ${input.endedReason}.` : null,
    input.vapiSummary ? `Summary: ${input.vapiSummary}` : null,
  ];
  return {
    durationSeconds: durationSeconds === null ? null : Math.round(durationSeconds * 10) / 10,
    turns: input.turns,
    toolsUsed: input.toolsUsed,
    endedReason: input.endedReason,
    vapiSummary: input.vapiSummary,
    text: sentences.filter((s) => s !== null).join(' '),
  };
}
