import type { FastifyHelmetOptions } from '@fastify/helmet';

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
