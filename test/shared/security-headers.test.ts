import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { SECURITY_HEADERS, securityHeadersFor } from '#shared/http/security-headers';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';

const { track, reset, close } = integrationResources();
let config: Config;
let ingress: FastifyInstance;
let worker: FastifyInstance;
let relay: FastifyInstance;

/** The CSP of an answer, directive by directive: `{ 'script-src': ["'self'"], … }`. */
const policyOf = (answer: LightMyRequestResponse) =>
  Object.fromEntries(
    String(answer.headers['content-security-policy'])
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .map(([name, ...values]) => [name!, values]),
  );

/** What every answer of every role carries. */
function expectSecurityHeaders(answer: LightMyRequestResponse, where: string) {
  expect(answer.headers, where).toMatchObject({ 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
  const policy = policyOf(answer);
  expect(policy, where).toMatchObject({
    'frame-ancestors': ["'none'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'object-src': ["'none'"],
    'default-src': ["'self'"],
  });
  expect(Object.values(policy).flat(), where).not.toContain("'unsafe-eval'");
}

beforeEach(async () => {
  config = testConfig();
  [ingress, worker, relay] = track(
    await buildIngressApp({ config, logger: silentLogger() }),
    await buildWorkerApp({ config, logger: silentLogger() }),
    await buildRelayApp({ config, logger: silentLogger() }),
  );
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('security headers', () => {
  it('worked out once are the ones helmet sets on each request', async () => {
    const perRequest = Fastify();
    await perRequest.register(helmet, SECURITY_HEADERS);
    perRequest.get('/', async () => 'ok');
    const answer = await perRequest.inject({ url: '/' });
    await perRequest.close();
    const once = Object.fromEntries(securityHeadersFor(SECURITY_HEADERS).map(([name, value]) => [name.toLowerCase(), value]));
    expect(Object.keys(once).length).toBeGreaterThan(5);
    expect(answer.headers).toMatchObject(once);
    const helmetNames = Object.keys(answer.headers).filter((name) => !['content-type', 'content-length', 'date', 'connection'].includes(name));
    expect(helmetNames.sort()).toEqual(Object.keys(once).sort());
  });

  it('are on every answer of every role: health, metrics, refusals and unknown paths', async () => {
    for (const [role, app] of Object.entries({ ingress, worker, relay })) {
      for (const url of ['/healthz', '/metrics', '/admin/anything', '/no-such-path']) expectSecurityHeaders(await app.inject({ url }), `${role} ${url}`);
    }
  });

  it('are on the webhook and the admin API answers', async () => {
    const raw = JSON.stringify({ message: { type: 'status-update', status: 'ringing', timestamp: Date.now(), call: { id: 'call-headers', orgId: 'org' } } });
    const webhook = await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
    expect(webhook.statusCode).toBe(200);
    expectSecurityHeaders(webhook, 'webhook');
    expectSecurityHeaders(await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw }), 'refused webhook');
    const deadLetters = await ingress.inject({ url: '/admin/dlq', headers: { authorization: `Bearer ${config.adminToken}` } });
    expect(deadLetters.statusCode).toBe(200);
    expectSecurityHeaders(deadLetters, 'admin API');
  });

  it("let the relay's watch page load only its own files, with no inline code at all", async () => {
    for (const url of ['/', '/app.js', '/api.js', '/call-view.js', '/live.js', '/app.css']) {
      const answer = await relay.inject({ url });
      expect(answer.statusCode, url).toBe(200);
      expectSecurityHeaders(answer, url);
      const policy = policyOf(answer);
      expect(policy['style-src']).toEqual(["'self'"]);
      expect(policy['connect-src']).toEqual(["'self'"]);
    }
    const page = (await relay.inject({ url: '/' })).body;
    expect(page).not.toMatch(/<script>|<style>|\son\w+=|style=/);
    expect(page).toContain('<script type="module" src="/app.js"></script>');
  });

  it("let the dashboard have bull-board's inline styles and typeface, and nothing more", async () => {
    const dashboard = await ingress.inject({ url: '/admin/queues', headers: { authorization: `Bearer ${config.adminToken}` } });
    expect(dashboard.statusCode).toBe(200);
    expectSecurityHeaders(dashboard, 'dashboard');
    expect(policyOf(dashboard)).toMatchObject({
      'style-src': ["'self'", "'unsafe-inline'", 'https://fonts.googleapis.com'],
      'font-src': ["'self'", 'https://fonts.gstatic.com'],
    });
  });
});
