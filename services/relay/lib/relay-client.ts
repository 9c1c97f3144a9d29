import { WebSocket } from 'ws';
import type { RelayEvent } from '#shared/relay';
import type { RelayMetrics } from './relay-metrics.ts';
import type { ReplayLoader } from './replay-loader.ts';
import type { RelayGrant } from './relay-token.ts';

/** Close codes the relay sends (RFC 6455 §7.4.1). */
export const CLOSE = { goingAway: 1001, policyViolation: 1008, tryAgainLater: 1013 } as const;

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
  /** Bytes the socket may hold unsent before the client counts as unable to keep up. */
  maxBufferedBytes: number;
}

/**
 * One connected app. Sequenced events reach it in `seq` order without duplicates: a replay or a
 * hole fill reads Postgres while the live events of that session are held, then the held ones
 * the read did not already cover follow. Live-only events (no `seq`) pass straight through.
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

  constructor(
    readonly ws: WebSocket,
    readonly grant: RelayGrant,
    private readonly deps: ClientDeps,
  ) {}

  /** A live event of this client's patient. */
  deliver(event: RelayEvent): void {
    if (!this.maySee(event.sessionId)) return;
    if (event.seq === undefined) {
      this.send(event, true);
      return;
    }
    const cursor = this.cursorOf(event.sessionId);
    if (cursor.filling) cursor.held.push(event);
    else this.accept(event.sessionId, cursor, event, true);
  }

  /** `{"type":"subscribe"}`: replays the session after `afterSeq`, then joins its live stream. */
  async subscribe(sessionId: string, afterSeq: number): Promise<void> {
    if (!this.maySee(sessionId)) return this.sendError('FORBIDDEN');
    const previous = this.cursors.get(sessionId);
    const sent = previous?.first !== undefined && previous.last !== undefined ? { from: previous.first, to: previous.last } : undefined;
    const cursor: Cursor = { last: undefined, filling: true, waiting: false, held: previous?.waiting ? previous.held : [] };
    this.cursors.set(sessionId, cursor);
    try {
      const history = await this.deps.loader.load(sessionId, afterSeq, this.grant.patientId);
      if (history.patientId !== this.grant.patientId) {
        if (this.cursors.get(sessionId) === cursor) this.cursors.delete(sessionId);
        return this.sendError('FORBIDDEN');
      }
      cursor.last = afterSeq;
      this.sendHistory(sessionId, cursor, history.events, sent);
    } catch {
      if (this.cursors.get(sessionId) === cursor) this.cursors.delete(sessionId);
      return this.sendError('UNAVAILABLE', 'the replay could not be read; subscribe again');
    }
    this.release(sessionId, cursor, false);
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

  /** Sends an error frame (bad requests, forbidden sessions). */
  sendError(code: string, message?: string): void {
    this.sendRaw(JSON.stringify(message ? { type: 'error', code, message } : { type: 'error', code }));
  }

  /** A token with `sid` sees that session only. */
  private maySee(sessionId: string) {
    return this.grant.sessionId === undefined || this.grant.sessionId === sessionId;
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
      const history = await this.deps.loader.load(sessionId, afterSeq, this.grant.patientId, upTo);
      if (history.patientId === this.grant.patientId) this.sendHistory(sessionId, cursor, history.events);
    } catch {
      // Postgres is unreachable: the held events go out past the hole rather than not at all.
    }
    this.release(sessionId, cursor, false);
  }

  /** Sends stored events past the cursor, except those this connection already got live (`sent`). */
  private sendHistory(sessionId: string, cursor: Cursor, events: RelayEvent[], sent?: { from: number; to: number }): void {
    for (const event of events) {
      if (this.cursors.get(sessionId) !== cursor) return; // a newer subscribe replaced this cursor
      const seq = event.seq!;
      if (cursor.last !== undefined && seq <= cursor.last) continue;
      cursor.last = seq;
      if (!sent || seq < sent.from || seq > sent.to) this.send(event, false);
    }
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
    if (this.ws.readyState !== WebSocket.OPEN || this.closedWith !== undefined) return false;
    if (this.ws.bufferedAmount + Buffer.byteLength(text) > this.deps.maxBufferedBytes) {
      this.close(CLOSE.tryAgainLater, 'cannot keep up; reconnect and subscribe with afterSeq');
      return false;
    }
    this.ws.send(text);
    this.deps.metrics.sent.inc();
    return true;
  }
}
