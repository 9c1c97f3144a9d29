/**
 * What the outbox notifies other systems of (docs/notifications.md): a session that
 * ended, and one that failed for good. A new type is a line here and the event change that raises it.
 */
export const NOTIFICATION_TYPES = { ended: 'session.ended', error: 'session.error' } as const;

export type NotificationType = (typeof NOTIFICATION_TYPES)[keyof typeof NOTIFICATION_TYPES];

/** Notification types as metric labels (the notification queue's job names). */
export const NOTIFICATION_TYPE_NAMES: ReadonlySet<string> = new Set(Object.values(NOTIFICATION_TYPES));
