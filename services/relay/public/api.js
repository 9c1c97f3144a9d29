// The relay's history API (docs/relay.md): the token goes in the Authorization header, never in the URL.

/** A refusal of the API, with the words the relay gave for it. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function historyApi(token) {
  async function get(path, query = {}) {
    const url = new URL(path, location.href);
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    const answer = await fetch(url, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new ApiError(answer.status, body.code ?? 'ERROR', body.message ?? `HTTP ${answer.status}`);
    return body;
  }
  return {
    sessions: (cursor) => get('/v1/sessions', { limit: 20, cursor }),
    session: (id) => get(`/v1/sessions/${encodeURIComponent(id)}`),
    /** Every final utterance of a call, in time order, page after page. */
    async messages(id) {
      const all = [];
      let cursor;
      do {
        const page = await get(`/v1/sessions/${encodeURIComponent(id)}/messages`, { limit: 500, cursor });
        all.push(...page.messages);
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    },
  };
}

/** A token refusal in words a person can act on (the relay says why: expired, malformed, wrong key…). */
export function refusalInWords(error) {
  if (!(error instanceof ApiError)) return `The relay could not be reached (${error.message}).`;
  if (error.status !== 401) return `The relay refused: ${error.message}.`;
  const why = error.message;
  if (/expired/.test(why)) return 'This token has expired. Ask for a new one (npm run token -- --patient ID).';
  if (/malformed|algorithm/.test(why)) return 'This is not a relay token: check that it was pasted whole.';
  if (/signature/.test(why)) return 'This token was signed with another key than this relay’s (wrong RELAY_JWT_SECRET?).';
  if (/too far ahead/.test(why)) return `This token is valid for longer than the relay allows (${why}).`;
  return `The relay refused this token: ${why}.`;
}
