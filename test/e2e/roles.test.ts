import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteRoleKeys, startRole } from '../helpers/role-start.ts';

afterAll(deleteRoleKeys);

/** A production role, until it logs `ready` or exits. */
const start = (role: string, env: Record<string, string>) => startRole(role, { NODE_ENV: 'production', ...env }, (output) => /ready on http/.test(output));

const common = { DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'), ADMIN_TOKEN: randomBytes(16).toString('hex') };

describe('each role starts with only its own variables', () => {
  it('starts a production worker without the webhook secret or the relay key', async () => {
    const { output } = await start('worker', common);
    expect(output).toMatch(/worker ready on http/);
    expect(output).not.toMatch(/VAPI_WEBHOOK_SECRET|RELAY_JWT_SECRET/);
  });

  it('starts a production ingress without the relay key', async () => {
    const { output } = await start('ingress', { ...common, VAPI_WEBHOOK_SECRET: randomBytes(16).toString('hex') });
    expect(output).toMatch(/ingress ready on http/);
  });

  it('starts a production ingress with its admin scope on ADMIN_PORT, and logs where', async () => {
    const { output } = await start('ingress', { ...common, VAPI_WEBHOOK_SECRET: randomBytes(16).toString('hex'), ADMIN_PORT: '0' });
    expect(output).toMatch(/ingress admin on http:\/\/127\.0\.0\.1:\d+\/admin\/queues/);
    expect(output).toMatch(/ingress ready on http/);
  });

  it('stops a production relay without its JWT key, naming it and nothing else', async () => {
    const { code, output } = await start('relay', common);
    expect(code).toBe(1);
    expect(output).toMatch(/Missing required secret\(s\) in production: RELAY_JWT_SECRET\./);
  });

  it('stops a production worker that would notify without a signing key', async () => {
    const { code, output } = await start('worker', { ...common, NOTIFY_WEBHOOK_URL: 'https://hooks.example/calls' });
    expect(code).toBe(1);
    expect(output).toMatch(/NOTIFY_WEBHOOK_SECRET/);
  });

  it('starts a production worker of the live and tools lanes without the signing key it never uses', async () => {
    const { output } = await start('worker', { ...common, WORKER_QUEUES: 'live,tools', NOTIFY_WEBHOOK_URL: 'https://hooks.example/calls' });
    expect(output).toMatch(/"queues":\["live","tools"\]/);
    expect(output).toMatch(/worker ready on http/);
  });

  it('stops a worker given an unknown queue name, naming it', async () => {
    const { code, output } = await start('worker', { ...common, WORKER_QUEUES: 'events,notification' });
    expect(code).toBe(1);
    expect(output).toMatch(/WORKER_QUEUES: unknown queue name\(s\) notification; the queues are events, live, tools, notifications/);
    expect(output).not.toMatch(/ready on http/);
  });
});
