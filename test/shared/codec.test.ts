import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FieldCipher, UnknownKeyError } from '#shared/crypto';
import { JobCodec, LEGACY_SEALS_UNTIL, LegacySealError, TamperedJobError } from '#shared/queues/codec';
import { QUEUES } from '#shared/queues/catalog';
import { eventsQueue } from '#shared/queues/events-queue';
import { liveQueue } from '#shared/queues/live-queue';
import { notificationsQueue, type NotificationBody, type NotificationMeta } from '#shared/queues/notifications-queue';
import { toolsQueue } from '#shared/queues/tools-queue';
import { tampered } from '../helpers/tamper.ts';

const key = randomBytes(32);
const cipher = new FieldCipher([key]);
const codec = new JobCodec(cipher);

const meta: NotificationMeta = { notificationId: 41, type: 'session.ended', sessionId: 'call-1', endpoint: 'https://hooks.clinic.example/calls' };
const body: NotificationBody = {
  type: 'session.ended',
  sessionId: 'call-1',
  patientId: 'patient-1',
  timestamp: '2026-12-01T10:00:00.000Z',
  data: { summary: 'Booked a visit.' },
};
const eventMeta = {
  eventId: 'e1',
  type: 'status-update',
  callId: 'call-1',
  source: 'vapi' as const,
  receivedAt: '2026-12-01T10:00:00.000Z',
  requestId: 'req-1',
};

/** A job as an earlier version sealed it: the payload alone, nothing bound to it. */
const legacyJob = <M extends Record<string, unknown>>(clear: M, payload: unknown) => ({ ...clear, sealed: cipher.encryptJson(payload) });

describe('the job codec', () => {
  it('opens what it sealed, whatever order Redis gives the clear fields back in, and says it was bound', () => {
    const sealed = codec.seal(notificationsQueue, meta, body);
    expect(JSON.stringify(sealed)).not.toContain('Booked');
    const reordered = Object.fromEntries(Object.entries(sealed).reverse()) as typeof sealed;
    expect(codec.open(notificationsQueue, reordered)).toEqual({ payload: body, legacy: false });
  });

  it('refuses a job whose clear field was changed, added or removed: every field, any value', () => {
    const sealed = codec.seal(notificationsQueue, meta, body);
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(meta)), fc.oneof(fc.string(), fc.integer(), fc.constant(null)), (field, value) => {
        fc.pre(value !== sealed[field as keyof NotificationMeta]);
        expect(() => codec.open(notificationsQueue, { ...sealed, [field]: value })).toThrow(TamperedJobError);
      }),
    );
    const { endpoint, ...withoutEndpoint } = sealed;
    expect(endpoint).toBeDefined();
    expect(() => codec.open(notificationsQueue, withoutEndpoint as typeof sealed)).toThrow(TamperedJobError);
    expect(() => codec.open(notificationsQueue, { ...sealed, replyTo: 'https://attacker.example' } as typeof sealed)).toThrow(TamperedJobError);
    // Re-pointed at another endpoint: the reason says what happened.
    expect(() => codec.open(notificationsQueue, { ...sealed, endpoint: 'https://attacker.example/x' })).toThrow(
      'sealed payload does not match its clear fields or queue: the job was altered after it was sealed',
    );
  });

  it('refuses a job moved to another queue, or whose sealed bytes were changed or swapped with another job', () => {
    const event = codec.seal(eventsQueue, eventMeta, '{"message":{}}');
    expect(() => codec.open(liveQueue, event as never)).toThrow(TamperedJobError);
    expect(() => codec.open(eventsQueue, { ...event, sealed: tampered(event.sealed) })).toThrow(TamperedJobError);
    const other = codec.seal(eventsQueue, { ...eventMeta, eventId: 'e2' }, '{"message":{"other":true}}');
    expect(() => codec.open(eventsQueue, { ...event, sealed: other.sealed })).toThrow(TamperedJobError);
    expect(() => codec.open(eventsQueue, { ...event, sealed: 'not a seal' })).toThrow(TamperedJobError);
    // Stripping the binding marker does not make it an earlier version's job.
    expect(() => codec.open(eventsQueue, { ...event, sealed: event.sealed.replace('+ad.', '.') })).toThrow(TamperedJobError);
  });

  it('tells of each seal found altered, and of nothing else', () => {
    const told: string[] = [];
    const watched = new JobCodec(cipher, { onTampered: (queue, sealed) => told.push(`${queue} ${sealed}`) });
    const event = watched.seal(eventsQueue, eventMeta, 'x');
    watched.open(eventsQueue, event);
    expect(() => watched.open(eventsQueue, { ...event, type: 'end-of-call-report' })).toThrow(TamperedJobError);
    expect(() => watched.openResult(toolsQueue, 'job-b', watched.sealResult(toolsQueue, 'job-a', { result: '{}' }))).toThrow(TamperedJobError);
    expect(told).toEqual(['vapi-events job', 'vapi-tools result']);
  });

  it("binds a result to its job: another job's result, or another queue's, does not open", () => {
    const result = { result: '{"found":true,"firstName":"Ada"}' };
    const stored = codec.sealResult(toolsQueue, 'job-a', result);
    expect(codec.openResult(toolsQueue, 'job-a', stored)).toEqual(result);
    expect(() => codec.openResult(toolsQueue, 'job-b', stored)).toThrow(TamperedJobError);
    expect(() => codec.openResult(eventsQueue as never, 'job-a', stored)).toThrow('sealed result does not match its job or queue');
  });

  it('keeps a key not configured yet apart from tampering: that one heals', () => {
    const sealed = new JobCodec(new FieldCipher([randomBytes(32)])).seal(eventsQueue, eventMeta, 'x');
    expect(() => codec.open(eventsQueue, sealed)).toThrow(UnknownKeyError);
    expect(() => codec.open(eventsQueue, sealed)).not.toThrow(TamperedJobError);
  });

  it("opens an earlier version's unbound jobs and results inside the window, telling each one, and refuses them after", () => {
    const told: string[] = [];
    const inside = new JobCodec(cipher, { legacyUntil: Date.now() + 60_000, onLegacy: (queue, sealed) => told.push(`${queue} ${sealed}`) });
    expect(inside.open(notificationsQueue, legacyJob(meta, body))).toEqual({ payload: body, legacy: true });
    expect(inside.openResult(toolsQueue, 'job-a', cipher.encryptJson({ result: '{}' }))).toEqual({ result: '{}' });
    expect(told).toEqual(['vapi-notifications job', 'vapi-tools result']);
    // An unbound job whose bytes were changed is still refused as tampered.
    expect(() => inside.open(notificationsQueue, { ...legacyJob(meta, body), sealed: tampered(legacyJob(meta, body).sealed) })).toThrow(TamperedJobError);

    const after = new JobCodec(cipher, { legacyUntil: Date.now() - 1, onLegacy: () => told.push('after') });
    expect(() => after.open(notificationsQueue, legacyJob(meta, body))).toThrow(LegacySealError);
    expect(() => after.openResult(toolsQueue, 'job-a', cipher.encryptJson({ result: '{}' }))).toThrow(/not bound to its job .* refused since/);
    expect(told).toHaveLength(2);
    // Bound seals are not affected by the window.
    expect(after.open(notificationsQueue, after.seal(notificationsQueue, meta, body)).legacy).toBe(false);
  });

  it('keeps the window open for a rollout plus the longest a dead letter is kept to be replayed, and not much longer', () => {
    const release = Date.parse('2026-12-01T00:00:00Z');
    const rollout = 14 * 24 * 3600 * 1000;
    const failedKeptMs = Math.max(
      ...Object.values(QUEUES).map(({ options: { removeOnFail } }) =>
        typeof removeOnFail === 'object' && 'age' in removeOnFail ? removeOnFail.age * 1000 : 0,
      ),
    );
    expect(failedKeptMs).toBe(14 * 24 * 3600 * 1000);
    expect(LEGACY_SEALS_UNTIL - release).toBeGreaterThanOrEqual(rollout + failedKeptMs);
    expect(LEGACY_SEALS_UNTIL - release).toBeLessThanOrEqual(2 * (rollout + failedKeptMs));
  });
});
