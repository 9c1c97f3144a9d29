// "My calls": the patient's calls from the history API, one opened with its transcript and summary,
// live calls followed over the relay's WebSocket.
import { historyApi, refusalInWords } from './api.js';
import { callHead, callRow, isLive, transcriptView } from './call-view.js';
import { liveStream } from './live.js';

const $ = (id) => document.getElementById(id);
const CONNECTION_WORDS = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', refused: 'refused', closed: 'not connected' };

let api;
let stream;
let nextCursor = null;
const sessions = new Map(); // id → the session as the list shows it
let openId; // the call on screen
let loading = false; // its transcript is being fetched: its live events wait for the replay after it
const transcript = transcriptView($('transcript'));

function notice(text) {
  $('notice').textContent = text ?? '';
  $('notice').hidden = !text;
}

function setConnection(state, reason) {
  $('conn').dataset.state = state;
  $('conn').textContent = CONNECTION_WORDS[state];
  if (state === 'refused') notice(refusalInWords({ status: 401, message: reason }));
}

function renderList() {
  const list = $('call-list');
  list.replaceChildren(...[...sessions.values()].map(callRow));
  $('empty').hidden = sessions.size > 0;
  $('more').hidden = !nextCursor;
  for (const row of list.children) row.classList.toggle('open', row.dataset.sessionId === openId);
}

async function loadCalls(cursor) {
  const page = await api.sessions(cursor);
  if (!cursor) sessions.clear();
  for (const session of page.sessions) sessions.set(session.id, session);
  nextCursor = page.nextCursor;
  renderList();
}

async function refreshCall(id) {
  const session = await api.session(id);
  sessions.set(id, { ...sessions.get(id), ...session });
  renderList();
  if (id === openId) $('call-head').replaceChildren(callHead(session));
  const summary = $('call-summary');
  if (id === openId) {
    summary.textContent = session.summary ?? '';
    summary.hidden = !session.summary;
  }
  return session;
}

async function openCall(id) {
  openId = id;
  loading = true;
  $('views').dataset.open = 'call';
  $('call').hidden = false;
  transcript.show([]);
  try {
    const [session, messages] = await Promise.all([refreshCall(id), api.messages(id)]);
    if (openId !== id) return;
    transcript.show(messages);
    if (isLive(session)) stream.watch(id, session.lastSeq);
    else stream.unwatch();
  } catch (error) {
    notice(refusalInWords(error));
  } finally {
    loading = false;
  }
}

function closeCall() {
  openId = undefined;
  stream?.unwatch();
  $('views').dataset.open = 'list';
  $('call').hidden = true;
  renderList();
}

function onEvent(event) {
  if (event.type === 'error') return notice(`The relay said: ${event.code}${event.message ? ` (${event.message})` : ''}`);
  const { sessionId, data = {} } = event;
  if (!sessions.has(sessionId)) return void loadCalls().catch((error) => notice(refusalInWords(error))); // a new call
  if (event.type === 'session_status') {
    sessions.get(sessionId).status = data.status;
    renderList();
  }
  if (event.type === 'session_end') void refreshCall(sessionId).catch(() => {});
  if (sessionId !== openId || loading) return;
  if (event.type === 'transcript') transcript.transcript(data);
  else if (event.type === 'function_call' && data.status === 'started') transcript.note(`Looking something up (${data.name})…`);
  else if (event.type === 'session_status') $('call-head').replaceChildren(callHead(sessions.get(sessionId)));
  else if (event.type === 'session_end') transcript.note('Call ended.');
}

$('connect').addEventListener('submit', async (e) => {
  e.preventDefault();
  stream?.close();
  notice();
  closeCall();
  sessions.clear();
  renderList();
  api = historyApi($('token').value.trim());
  try {
    await loadCalls(); // says in words why a token is refused, which a WebSocket's 1006 cannot
  } catch (error) {
    setConnection('closed');
    return notice(refusalInWords(error));
  }
  stream = liveStream($('token').value.trim(), { onEvent, onState: setConnection });
});

$('call-list').addEventListener('click', (e) => {
  const row = e.target.closest('.call-row');
  if (row) void openCall(row.dataset.sessionId);
});
$('call-list').addEventListener('keydown', (e) => {
  const row = e.target.closest('.call-row');
  if (row && (e.key === 'Enter' || e.key === ' ')) void openCall(row.dataset.sessionId);
});
$('more').addEventListener('click', () => void loadCalls(nextCursor).catch((error) => notice(refusalInWords(error))));
$('back').addEventListener('click', closeCall);
