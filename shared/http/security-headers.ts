import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import helmet, { type HelmetOptions } from 'helmet';

type Directives = Record<string, readonly string[]>;

/**
 * What a page of ours may load: scripts, styles, images and connections from its own origin only
 * (the relay's watch page reaches its WebSocket through 'self'), no inline script or style, no
 * plugins, forms posting home, and never inside a frame.
 */
export const CONTENT_SECURITY_POLICY: Directives = {
  'default-src': ["'self'"],
  'base-uri': ["'self'"],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'img-src': ["'self'", 'data:'],
  'object-src': ["'none'"],
  'script-src': ["'self'"],
  'script-src-attr': ["'none'"],
  'style-src': ["'self'"],
};

/** helmet's CSP option for exactly these directives (none of helmet's defaults, e.g. upgrade-insecure-requests, implied). */
export const contentSecurityPolicy = (directives: Directives) => ({ useDefaults: false, directives: { ...directives } });

/**
 * The headers every answer of every role carries (helmet's set, with our CSP): no framing
 * (`X-Frame-Options: DENY` for browsers without `frame-ancestors`), `nosniff`, no referrer.
 */
export const SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: contentSecurityPolicy(CONTENT_SECURITY_POLICY),
  frameguard: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
};

/**
 * The headers helmet sets for `options`, worked out once. `@fastify/helmet` builds helmet's
 * middleware from the options again on every request (13–15 µs each); for options that do not
 * change, neither do the headers. Not for options with per-request parts (CSP nonces, directive
 * functions).
 */
export function securityHeadersFor({ enableCSPNonces: _nonces, global: _global, ...options }: FastifyHelmetOptions): [string, string][] {
  const headers = new Map<string, string>();
  const recorder = { setHeader: (name: string, value: unknown) => headers.set(name, String(value)), removeHeader: (name: string) => headers.delete(name) };
  let done = false;
  // The same options, typed by helmet's ESM declarations rather than the CommonJS ones @fastify/helmet reads.
  helmet(options as HelmetOptions)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {
    done = true;
  });
  if (!done) throw new Error('helmet did not set its headers at once: these options need it per request');
  return [...headers];
}
