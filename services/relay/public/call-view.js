// How one call looks: its list row, its heading, its transcript (partials replaced by the final).

const ENDED = new Set(['ended', 'completed']);
export const isLive = (session) => !ENDED.has(session.status);

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const when = (iso) => (iso ? dateFormat.format(new Date(iso)) : 'not started');

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

const badge = (session) => (isLive(session) ? element('span', 'badge live', 'live') : element('span', 'badge', session.status));

/** A row of "my calls": date, status, duration, the summary's first line. */
export function callRow(session) {
  const row = element('li', 'call-row');
  row.dataset.sessionId = session.id;
  const top = element('div', 'row-top');
  top.append(element('span', 'row-date', when(session.startedAt)), badge(session));
  const length = duration(session.durationSeconds);
  if (length) top.append(element('span', 'row-duration', length));
  row.append(top, element('div', 'row-summary', session.summary ?? (isLive(session) ? 'In progress…' : 'No summary')));
  row.tabIndex = 0;
  return row;
}

export function callHead(session) {
  const head = element('div', 'call-head');
  head.append(element('h2', '', when(session.startedAt)), badge(session));
  const facts = [duration(session.durationSeconds), session.endedReason && `ended: ${session.endedReason}`].filter(Boolean);
  if (session.toolsUsed?.length) facts.push(`tools: ${session.toolsUsed.join(', ')}`);
  if (facts.length) head.append(element('p', 'facts', facts.join(' · ')));
  return head;
}

/** The transcript of the open call: final utterances in order, one partial per speaker at most. */
export function transcriptView(container) {
  const partials = new Map(); // role → the partial bubble its final replaces
  const bubble = (role, text) => {
    const el = element('div', `bubble ${role}`, text);
    container.append(el);
    return el;
  };
  return {
    show(messages) {
      container.replaceChildren();
      partials.clear();
      for (const message of messages) bubble(message.role, message.transcript);
    },
    transcript({ role, transcript, final }) {
      const el = partials.get(role) ?? bubble(role, '');
      el.textContent = transcript;
      el.classList.toggle('partial', !final);
      if (final) partials.delete(role);
      else partials.set(role, el);
      el.scrollIntoView({ block: 'nearest' });
    },
    note(text) {
      container.append(element('div', 'note', text));
    },
  };
}
