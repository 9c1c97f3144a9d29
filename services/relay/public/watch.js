// Renders the relay protocol (README, "Relay"): one bubble per utterance, partials replaced by the final.
const $ = (id) => document.getElementById(id);
const log = $('log');
const partials = new Map(); // sessionId|role → the partial bubble a final replaces
const lastSeq = new Map(); // sessionId → last seq seen, for resuming after a drop
let socket;

function add(className, text) {
  const el = document.createElement('div');
  el.className = className;
  el.textContent = text;
  log.append(el);
  el.scrollIntoView({ block: 'end' });
  return el;
}

function show(event) {
  if (event.type === 'error') return add('note', `error: ${event.code}${event.message ? ` (${event.message})` : ''}`);
  if (event.seq !== undefined) lastSeq.set(event.sessionId, event.seq);
  const d = event.data || {};
  const key = `${event.sessionId}|${d.role}`;
  switch (event.type) {
    case 'transcript': {
      let bubble = partials.get(key);
      if (!bubble) bubble = add(`bubble ${d.role}`, '');
      bubble.textContent = d.transcript;
      bubble.classList.toggle('partial', !d.final);
      if (d.final) partials.delete(key);
      else partials.set(key, bubble);
      break;
    }
    case 'speech': {
      const pill = $(`speak-${d.role}`);
      if (pill) pill.classList.toggle('on', d.status === 'started');
      break;
    }
    case 'function_call':
      $('tool').textContent = `${d.name} (${d.status})`;
      break;
    case 'session_status':
      $('status').textContent = d.status;
      break;
    case 'session_end':
      $('status').textContent = 'ended';
      add('summary', `Call ended. ${d.summary || ''}`);
      break;
    default:
      add('note', event.type);
  }
}

function connect(token, subscribe) {
  if (socket) socket.close();
  const url = new URL('/v1/stream', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);
  socket = new WebSocket(url);
  $('conn').textContent = 'connecting';
  socket.onopen = () => {
    $('conn').textContent = 'open';
    if (subscribe) socket.send(JSON.stringify({ type: 'subscribe', ...subscribe }));
  };
  socket.onmessage = (message) => show(JSON.parse(message.data));
  socket.onclose = (close) => {
    $('conn').textContent = `closed (${close.code})`;
    // Asked to come back later, or the relay restarted: resume after the last event seen.
    if (close.code === 1013 || close.code === 1001) {
      const [sessionId, afterSeq] = [...lastSeq.entries()].at(-1) || [];
      setTimeout(() => connect(token, sessionId ? { sessionId, afterSeq } : subscribe), 1000);
    }
  };
}

$('connect').addEventListener('submit', (e) => {
  e.preventDefault();
  const sessionId = $('session').value.trim();
  connect($('token').value.trim(), sessionId ? { sessionId, afterSeq: Number($('after').value) || 0 } : undefined);
});
