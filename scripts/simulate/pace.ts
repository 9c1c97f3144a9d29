/** How fast people speak in the calls played at speaking pace. */
export const WORDS_PER_MINUTE = 150;

/** How long the simulator waits: after each third of an utterance (a partial, then the final), and between steps. */
export interface Pace {
  thirdOfUtteranceMs(words: number): number;
  betweenStepsMs: number;
}

/**
 * `fast` (the default) plays calls as quickly as the ingress takes them; `realtime` at speaking
 * pace, an utterance lasting as long as its words take to say, so a person can follow the calls
 * on the watch page.
 */
export const PACES = {
  fast: { thirdOfUtteranceMs: () => 20, betweenStepsMs: 30 },
  realtime: { thirdOfUtteranceMs: (words) => (words * 60_000) / WORDS_PER_MINUTE / 3, betweenStepsMs: 600 },
} satisfies Record<string, Pace>;

export type PaceName = keyof typeof PACES;

export const isPaceName = (name: string): name is PaceName => Object.hasOwn(PACES, name);
