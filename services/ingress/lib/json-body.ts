import { IngressErrors } from '../errors.ts';

/** Deeper than any Vapi payload (about 10 levels); deeper input would only make recursion throw later. */
const MAX_JSON_DEPTH = 64;

/** How deeply arrays and objects nest in a JSON text, counting outside strings only. */
function nestingDepth(raw: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (inString) {
      if (byte === 0x5c)
        i++; // backslash: skip the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (byte === 0x7d || byte === 0x5d) depth--;
  }
  return deepest;
}

/** Parses a verified webhook body, refusing what is not JSON or nests beyond `MAX_JSON_DEPTH`. */
export function parseJsonBody(raw: Buffer): unknown {
  if (nestingDepth(raw) > MAX_JSON_DEPTH) throw IngressErrors.invalidPayload(`Body nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw IngressErrors.invalidPayload('Body is not valid JSON');
  }
}
