import { WEBHOOK_PATH } from '#shared/http/paths';

/**
 * The webhook URL for what `--url` names: the webhook itself, or the ingress's base URL (any other
 * path is taken as a base, as behind a proxy's prefix). Null for what is not an http(s) URL.
 */
export function webhookUrlOf(given: string): string | null {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path.endsWith(WEBHOOK_PATH) ? path : `${path}${WEBHOOK_PATH}`;
  return url.toString();
}
