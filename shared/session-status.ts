/** A session's status, in the only order it may move: never backwards. */
export const SESSION_STATUSES = ['queued', 'ringing', 'in-progress', 'forwarding', 'ended', 'completed'] as const;

export type SessionStatus = (typeof SESSION_STATUSES)[number];

const rank = (status: SessionStatus) => SESSION_STATUSES.indexOf(status);

/** Maps Vapi's call status onto ours; statuses that say nothing about the call's progress give null. */
export function toSessionStatus(value: unknown): SessionStatus | null {
  if (value === 'scheduled') return 'queued';
  return SESSION_STATUSES.includes(value as SessionStatus) ? (value as SessionStatus) : null;
}

/** The status after `next` arrives: `next` when it is further along, else `current` (late or repeated news). */
export function advanceStatus(current: SessionStatus, next: SessionStatus): SessionStatus {
  return rank(next) > rank(current) ? next : current;
}
