import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { sessionEvents, vapiSessions } from '#shared/db/schema';
import { readSessionEvents } from '../../services/relay/lib/session-events.ts';
import { testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { eventWriter, range } from './relay-harness.ts';

const { handle, redis, reset, close } = integrationResources();
const config = testConfig();
const writer = eventWriter(config, handle, redis);
const cipher = new FieldCipher(config.dataEncryptionKeys);
const read = (sessionId: string, afterSeq: number, limit: number, owner?: string) => readSessionEvents(handle.db, cipher, sessionId, afterSeq, limit, owner);

afterEach(() => reset(config.queuePrefix));
afterAll(close);

describe('readSessionEvents', () => {
  it('reads one page after a seq, in order, in exactly the shape the socket sends, with the owner', async () => {
    const session = await writer.session('pat-owner');
    const stored = await writer.store(session, [3, 1, 5, 2, 4]);
    const page = await read(session, 1, 3);
    expect(page.patientId).toBe('pat-owner');
    expect(page.events).toEqual([2, 3, 4].map((seq) => stored.find((event) => event.seq === seq)));
    expect(Object.keys(page.events[0]!)).toEqual(['type', 'sessionId', 'seq', 'at', 'data']);
    // The writer stores rows without numbering the session as the outbox does: its last_seq stays 0.
    expect(await read(session, 4, 3)).toEqual({ patientId: 'pat-owner', events: [stored.find((event) => event.seq === 5)], lastSeq: 0 });
  });

  it('pages through a long session without gap or repeat', async () => {
    const session = await writer.session('pat-owner');
    await writer.store(session, range(1, 25));
    const seen: number[] = [];
    for (let after = 0, page = await read(session, after, 10); page.events.length > 0; page = await read(session, after, 10)) {
      seen.push(...page.events.map((event) => event.seq!));
      after = seen.at(-1)!;
    }
    expect(seen).toEqual(range(1, 25));
  });

  it('names the owner of a session with nothing after the seq, and nobody for a missing or unbound one', async () => {
    const session = await writer.session('pat-owner');
    await writer.store(session, [1, 2]);
    expect(await read(session, 2, 10)).toEqual({ patientId: 'pat-owner', events: [], lastSeq: 0 });
    expect(await read(`missing-${randomUUID()}`, 0, 10)).toEqual({ patientId: null, events: [], lastSeq: 0 });

    const unbound = randomUUID();
    await handle.db.insert(vapiSessions).values({ id: unbound, status: 'in-progress' });
    await handle.db
      .insert(sessionEvents)
      .values({ sessionId: unbound, seq: 1, type: 'transcript', at: new Date(), data: cipher.encryptJson({ transcript: 'x' }) });
    expect(await read(unbound, 0, 10)).toEqual({ patientId: null, events: [], lastSeq: 0 });
  });

  it("with an owner named, reads someone else's session as one that does not exist", async () => {
    const session = await writer.session('pat-owner');
    const stored = await writer.store(session, [1, 2]);
    expect((await read(session, 0, 10, 'pat-owner')).events).toEqual(stored);
    expect(await read(session, 0, 10, 'pat-other')).toEqual({ patientId: null, events: [], lastSeq: 0 });
  });
});
