// The relay's WebSocket (docs/relay.md): live events of all the patient's calls, and a replay of
// the open call after `afterSeq`, resumed after a drop from the last event seen.

const RETRY_MS = [500, 1000, 2000, 5000, 10000];
/** Closes after which reconnecting cannot help: the token is refused or has expired. */
const FINAL_CLOSES = new Set([1008]);

export function liveStream(token, { onEvent, onState }) {
  const lastSeq = new Map(); // sessionId → last seq seen
  let watched; // the session whose replay the page asked for
  let socket;
  let attempts = 0;
  let stopped = false;

  function send(message) {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function open() {
    const url = new URL('/v1/stream', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', token); // a browser cannot set headers on a WebSocket
    socket = new WebSocket(url);
    onState('connecting');
    socket.onopen = () => {
      attempts = 0;
      onState('live');
      if (watched) send({ type: 'subscribe', sessionId: watched, afterSeq: lastSeq.get(watched) ?? 0 });
    };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.seq !== undefined) {
        if (event.seq <= (lastSeq.get(event.sessionId) ?? 0)) return; // already shown (a replay overlapping live)
        lastSeq.set(event.sessionId, event.seq);
      }
      onEvent(event);
    };
    socket.onclose = (close) => {
      if (stopped) return;
      if (FINAL_CLOSES.has(close.code)) return onState('refused', close.reason || 'the token expired');
      const delay = RETRY_MS[Math.min(attempts++, RETRY_MS.length - 1)];
      onState('reconnecting');
      setTimeout(() => !stopped && open(), delay);
    };
  }

  open();
  return {
    /** Follow one call from after `afterSeq` (what the page already shows of it). */
    watch(sessionId, afterSeq) {
      watched = sessionId;
      lastSeq.set(sessionId, Math.max(afterSeq, lastSeq.get(sessionId) ?? 0));
      send({ type: 'subscribe', sessionId, afterSeq: lastSeq.get(sessionId) });
    },
    unwatch() {
      watched = undefined;
    },
    close() {
      stopped = true;
      socket?.close();
    },
  };
}
