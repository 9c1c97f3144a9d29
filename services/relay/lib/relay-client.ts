import type { Duplex } from 'node:stream';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocket } from 'ws';
import { databaseErrorSummary } from '#shared/db/errors';
import type { RelayEvent } from '#shared/relay';
import { MAX_HELD_EVENTS, MAX_REPLAYS, REPLAY_PAGE_EVENTS, SEND_PIECE_EVENTS, SUBSCRIBES } from './limits.ts';
import type { RelayMetrics } from '../metrics.ts';
import type { ReplayLoader } from './replay-loader.ts';
import type { RelayGrant } from '#shared/relay-token';
import { TokenBucket } from './token-bucket.ts';

/** Close codes the relay sends (RFC 6455 §7.4.1). */
export const CLOSE = { goingAway: 1001, policyViolation: 1008, tryAgainLater: 1013 } as const;

/** Why a read failed, in words fit for a log line: a database error by SQLSTATE (never its values), else its own message. */
const failureOf = (error: unknown) => databaseErrorSummary(error) ?? (error instanceof Error ? `${error.name}: ${error.message}` : 'unknown failure');

/** Where a client is in one session: the last `seq` it got, and live events held while Postgres is read. */
interface Cursor {
  /** The first `seq` this connection sent live, before any subscribe: a later replay skips what followed it. */
  first?: number;
  last: number | undefined;
  filling: boolean;
  /** Held for the connect grace, in case a subscribe to this session follows. */
  waiting: boolean;
  held: RelayEvent[];
}

export interface ClientDeps {
  loader: ReplayLoader;
  metrics: RelayMetrics;
  log: FastifyBaseLogger;
  /** The patient's replay budget (stored events), shared by its sockets on this process. */
  replayBudget: TokenBucket;
  /** Bytes the socket may hold unsent before the client counts as unable to keep up. */
  maxBufferedBytes: number;
}

/**
 * One connected app. Sequenced events reach it in `seq` order without duplicates: a replay or a
 * hole fill reads Postgres a page at a time while the live events of that session are held, then
 * the held ones the read did not already cover follow. Live-only events (no `seq`) pass straight
 * through. A replay sends only while the socket has room, so a slow reader slows its own replay
 * instead of filling the relay's memory.
 */
export class RelayClient {
  /** Answered the last ping. */
  alive = true;
  /**
   * Within the connect grace: a reconnecting app subscribes right after the socket opens, and a
   * sequenced event relayed before its subscribe would arrive ahead of the replay. So sequenced
   * events are held until the grace ends or the subscribe takes them over.
   */
  private settling = true;
  /** The code this side closed with, once it has. */
  closedWith: number | undefined;
  private readonly cursors = new Map<string, Cursor>();
  private readonly allowance = new TokenBucket(SUBSCRIBES.burst, SUBSCRIBES.perSecond);
  /** Sessions whose replay is running. */
  private readonly replaying = new Set<string>();
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    /** The TCP connection under `ws`, whose writes a replay batches. */
    private readonly socket: Duplex,
    readonly grant: RelayGrant,
    private readonly deps: ClientDeps,
  ) {
    ws.once('close', () => clearTimeout(this.resumeTimer));
  }

  /**
   * Counts a message against the socket's allowance. Over it, the message is answered RATE_LIMITED
   * and the socket is not read again until the next one is due (what arrived with it is dropped
   * unanswered): a flood then fills the sender's own buffers, not the relay's time, and a client
   * that waits for each answer waits for the allowance.
   */
  admit(): boolean {
    if (this.allowance.take()) return true;
    this.deps.metrics.rateLimited.inc({ limit: 'subscribes' });
    if (this.ws.isPaused) return false;
    this.sendError('RATE_LIMITED', 'too many subscribes on this connection; wait and subscribe again');
    this.ws.pause();
    this.resumeTimer = setTimeout(() => this.ws.resume(), this.allowance.waitMs());
    return false;
  }

  /** A live event of this client's patient. */
  deliver(event: RelayEvent): void {
    if (!this.maySee(event.sessionId)) return;
    if (event.seq === undefined) {
      this.send(event, true);
      return;
    }
    const cursor = this.cursorOf(event.sessionId);
    if (!cursor.filling) this.accept(event.sessionId, cursor, event, true);
    else if (cursor.held.length < MAX_HELD_EVENTS) cursor.held.push(event);
    else this.close(CLOSE.tryAgainLater, 'cannot keep up; reconnect and subscribe with afterSeq');
  }

  /** `{"type":"subscribe"}`: replays the session after `afterSeq`, then joins its live stream. */
  async subscribe(sessionId: string, afterSeq: number): Promise<void> {
    if (!this.maySee(sessionId)) return this.sendError('FORBIDDEN');
    if (this.replaying.has(sessionId) || this.replaying.size >= MAX_REPLAYS) {
      this.deps.metrics.rateLimited.inc({ limit: 'replays' });
      return this.sendError('RATE_LIMITED', `a replay of this session, or ${MAX_REPLAYS} replays, are running; subscribe again once they end`);
    }
    this.replaying.add(sessionId);
    try {
      await this.replay(sessionId, afterSeq);
    } finally {
      this.replaying.delete(sessionId);
    }
  }

  /** Ends the connect grace: held events not taken over by a subscribe go out in order. */
  settle(): void {
    this.settling = false;
    for (const [sessionId, cursor] of this.cursors) {
      if (!cursor.waiting) continue;
      cursor.waiting = false;
      this.release(sessionId, cursor, true);
    }
  }

  /** Closes this side with `code` (once). */
  close(code: number, reason: string): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = code;
    this.deps.metrics.closes.inc({ code: String(code) });
    this.ws.close(code, reason);
  }

  /** Sends an error frame (bad requests, forbidden sessions, limits). */
  sendError(code: string, message?: string): void {
    this.sendRaw(JSON.stringify(message ? { type: 'error', code, message } : { type: 'error', code }));
  }

  private async replay(sessionId: string, afterSeq: number): Promise<void> {
    const previous = this.cursors.get(sessionId);
    const sent = previous?.first !== undefined && previous.last !== undefined ? { from: previous.first, to: previous.last } : undefined;
    const cursor: Cursor = { last: undefined, filling: true, waiting: false, held: previous?.waiting ? previous.held : [] };
    this.cursors.set(sessionId, cursor);
    let owned: boolean;
    try {
      owned = await this.read(sessionId, cursor, afterSeq, 0, sent);
    } catch (error) {
      this.deps.log.warn({ sessionId, afterSeq, reason: failureOf(error) }, 'relay replay could not be read; the client was told to subscribe again');
      if (this.cursors.get(sessionId) === cursor) this.cursors.delete(sessionId);
      return this.sendError('UNAVAILABLE', 'the replay could not be read; subscribe again');
    }
    if (!owned) {
      if (this.cursors.get(sessionId) === cursor) this.cursors.delete(sessionId);
      return this.sendError('FORBIDDEN');
    }
    this.release(sessionId, cursor, false);
  }

  /** A token with `sid` sees that session only. */
  private maySee(sessionId: string) {
    return this.grant.sessionId === undefined || this.grant.sessionId === sessionId;
  }

  /** `cursor` is still the session's (no newer subscribe replaced it) and the socket still takes events. */
  private serves(sessionId: string, cursor: Cursor) {
    return this.cursors.get(sessionId) === cursor && this.closedWith === undefined && this.ws.readyState === WebSocket.OPEN;
  }

  private cursorOf(sessionId: string): Cursor {
    let cursor = this.cursors.get(sessionId);
    if (!cursor) {
      cursor = { last: undefined, filling: this.settling, waiting: this.settling, held: [] };
      this.cursors.set(sessionId, cursor);
    }
    return cursor;
  }

  /** The next event in order is sent; a repeat is dropped; one past a hole starts a fill (unless it follows one). */
  private accept(sessionId: string, cursor: Cursor, event: RelayEvent, mayFill: boolean): void {
    const seq = event.seq!;
    if (cursor.last !== undefined && seq <= cursor.last) return;
    if (cursor.last === undefined || seq === cursor.last + 1 || !mayFill) {
      cursor.first ??= seq;
      cursor.last = seq;
      this.send(event, true);
      return;
    }
    cursor.held.push(event);
    void this.fill(sessionId, cursor, cursor.last, seq - 1);
  }

  private async fill(sessionId: string, cursor: Cursor, afterSeq: number, upTo: number): Promise<void> {
    cursor.filling = true;
    try {
      await this.read(sessionId, cursor, afterSeq, upTo);
    } catch (error) {
      // Postgres is unreachable: the held events go out past the hole rather than not at all.
      this.deps.log.warn({ sessionId, afterSeq, reason: failureOf(error) }, 'relay hole fill could not be read; the events after it were sent');
    }
    this.release(sessionId, cursor, false);
  }

  /**
   * Sends the session's stored events after `afterSeq` through `cursor`, a page at a time: each page
   * waits for the patient's replay budget, each event for room in the socket. False when the session
   * is not this client's patient's (then nothing of it was sent).
   */
  private async read(sessionId: string, cursor: Cursor, afterSeq: number, atLeastSeq: number, sent?: { from: number; to: number }): Promise<boolean> {
    const budget = this.deps.replayBudget;
    for (let after = afterSeq; ; ) {
      for (let wait = budget.waitMs(); wait > 0; wait = budget.waitMs()) await sleep(wait);
      if (!this.serves(sessionId, cursor)) return true;
      // A whole page is charged before the read, so that replays waiting together take turns; what it did not fill comes back.
      budget.spend(REPLAY_PAGE_EVENTS);
      const page = await this.deps.loader.load(sessionId, after, this.grant.patientId, atLeastSeq);
      budget.spend(page.events.length - REPLAY_PAGE_EVENTS);
      if (page.patientId !== this.grant.patientId) return false;
      cursor.last ??= afterSeq;
      await this.sendHistory(sessionId, cursor, page.events, sent);
      if (page.events.length < REPLAY_PAGE_EVENTS) return true;
      after = page.events.at(-1)!.seq!;
    }
  }

  /**
   * Sends stored events past the cursor, except those this connection already got live (`sent`), in
   * pieces written out at once (one system call, not one per event), other work passing between
   * them. While the socket holds a quarter of what would close it, the next piece waits until it
   * has drained, so a replay holds at most that much, and one event more, for a slow reader.
   */
  private async sendHistory(sessionId: string, cursor: Cursor, events: RelayEvent[], sent?: { from: number; to: number }): Promise<void> {
    const room = this.deps.maxBufferedBytes / 4;
    for (let next = 0; next < events.length; ) {
      if (next > 0) await setImmediate();
      if (this.ws.bufferedAmount >= room) await this.drained();
      if (!this.serves(sessionId, cursor)) return;
      this.socket.cork();
      for (const end = Math.min(events.length, next + SEND_PIECE_EVENTS); next < end && this.ws.bufferedAmount < room; next++) {
        const event = events[next]!;
        const seq = event.seq!;
        if (cursor.last !== undefined && seq <= cursor.last) continue;
        cursor.last = seq;
        if (!sent || seq < sent.from || seq > sent.to) this.send(event, false);
      }
      this.socket.uncork();
    }
  }

  /** Resolves once the socket has written out what it held, or has closed. */
  private drained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done).off('close', done);
        resolve();
      };
      this.socket.on('drain', done).on('close', done);
    });
  }

  /**
   * Sends the held live events in order. After a read (`mayFill` false) a hole left is not read
   * again: the read was current, so the relay goes on past it rather than loop.
   */
  private release(sessionId: string, cursor: Cursor, mayFill: boolean): void {
    cursor.filling = false;
    if (this.cursors.get(sessionId) !== cursor) return; // the newer subscribe's replay covers what this one held
    const held = cursor.held.sort((a, b) => a.seq! - b.seq!);
    cursor.held = [];
    for (const event of held) {
      if (cursor.filling) cursor.held.push(event);
      else this.accept(sessionId, cursor, event, mayFill);
    }
  }

  private send(event: RelayEvent, live: boolean): void {
    if (this.sendRaw(JSON.stringify(event)) && live) this.deps.metrics.lag.observe(Math.max(0, Date.now() - Date.parse(event.at)) / 1000);
  }

  /** Sends unless the socket already holds too much: then the client is closed with 1013 and resumes with `afterSeq`. */
  private sendRaw(text: string): boolean {
    const bytes = Buffer.byteLength(text);
    if (this.ws.readyState !== WebSocket.OPEN || this.closedWith !== undefined) return false;
    if (this.ws.bufferedAmount + bytes > this.deps.maxBufferedBytes) {
      this.close(CLOSE.tryAgainLater, 'cannot keep up; reconnect and subscribe with afterSeq');
      return false;
    }
    this.ws.send(text);
    this.deps.metrics.sent.inc();
    this.deps.metrics.sentBytes.inc(bytes);
    return true;
  }
}
