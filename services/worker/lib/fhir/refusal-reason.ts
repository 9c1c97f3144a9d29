/** Longest refusal reason kept: enough for a validator's message, short enough for a log line and a job's failedReason. */
const MAX_REASON = 300;

/** Quoted text in a server's message is where it echoes values back (a name, a date): those never leave here. */
const quoted = /"[^"]*"|'[^']*'|`[^`]*`|«[^»]*»/g;

/**
 * Why a FHIR server refused a Bundle, from the OperationOutcome it answered with: each error
 * issue's code and diagnostics (or details text), quoted values blanked, at most MAX_REASON
 * characters. Null when the answer is not an OperationOutcome or says nothing.
 */
export function refusalReason(body: string): string | null {
  let outcome: { resourceType?: unknown; issue?: unknown };
  try {
    outcome = JSON.parse(body) as typeof outcome;
  } catch {
    return null;
  }
  if (outcome?.resourceType !== 'OperationOutcome' || !Array.isArray(outcome.issue)) return null;
  const issues = (outcome.issue as { severity?: unknown; code?: unknown; diagnostics?: unknown; details?: { text?: unknown } }[])
    .filter((issue) => issue?.severity === 'error' || issue?.severity === 'fatal')
    .map((issue) => {
      const said = typeof issue.diagnostics === 'string' ? issue.diagnostics : typeof issue.details?.text === 'string' ? issue.details.text : '';
      return [typeof issue.code === 'string' ? issue.code : '', said.replace(quoted, '"…"')].filter(Boolean).join(': ');
    })
    .filter(Boolean);
  if (issues.length === 0) return null;
  const reason = issues.join('; ').replace(/\s+/g, ' ');
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}
