/** The relay's limits, in one place, each with the reason for its size. */

/**
 * Stored events a patient's replays may read on one relay process: 500 at once (what an app that
 * reconnects has missed, or much of a call it opens, replayed without waiting), then 500 a second
 * (about 0.5 MB/s: an hour-long call, some 1,000 events, in a second). An app never asks for more;
 * one that does costs the process a few percent of a core at that pace whatever it asks, in pieces
 * small enough that every other patient's live events pass between them.
 */
export const REPLAY_BUDGET = { burst: 500, perSecond: 500 } as const;

/** Stored events read at once for a replay or a hole fill: about 50 KB, a millisecond of work to decrypt. */
export const REPLAY_PAGE_EVENTS = 50;

/**
 * Messages a socket may send: 10 at once, then one every 6 s. An app sends nothing but subscribes,
 * one per session it opens (on connecting, to resume the one or two it shows), and a person opens a
 * few sessions a minute at most; the first reconnect after a drop gets a fresh socket and allowance.
 */
export const SUBSCRIBES = { burst: 10, perSecond: 1 / 6 } as const;

/** Replays one socket runs at once, one per session: an app shows one or two sessions at a time. */
export const MAX_REPLAYS = 4;

/** Stored events written in one go before the relay turns to its other work (a fraction of a millisecond's worth). */
export const SEND_PIECE_EVENTS = 20;

/** Live events of one session held while Postgres is read for it: far more than a call sends meanwhile. */
export const MAX_HELD_EVENTS = 1_000;
