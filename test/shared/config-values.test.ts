import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';

const secrets = { VAPI_WEBHOOK_SECRET: 'a3f9c1d2e4b5', DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'), ADMIN_TOKEN: 'admin-token-5e4d3c' };
const ingress = (env: Record<string, string>) => loadConfig({ ...secrets, ...env }, ['ingress']);

describe('TRUST_PROXY', () => {
  it.each([
    ['true', true],
    ['false', false],
    ['', false],
    ['10.0.0.1', ['10.0.0.1']],
    ['10.0.0.0/8, 192.168.1.7,::1,fd00::/8', ['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8']],
    ['loopback,uniquelocal', ['loopback', 'uniquelocal']],
  ])('takes %j as Fastify does', (value, trustProxy) => {
    expect(ingress({ TRUST_PROXY: value }).trustProxy).toEqual(trustProxy);
  });

  it.each(['yes', '1', '10.0.0.0/33', '10.0.0.1/8/1', 'proxy.internal', '10.0.0.1,nope'])('refuses %j, naming the variable', (value) => {
    expect(() => ingress({ TRUST_PROXY: value })).toThrow(
      /^Invalid configuration:\n {2}TRUST_PROXY: TRUST_PROXY must be true, false, or comma-separated proxy IP addresses\/CIDRs/,
    );
  });
});

describe('NODE_ENV', () => {
  it.each(['development', 'production', 'test'])('takes %s', (value) => {
    expect(ingress({ NODE_ENV: value }).nodeEnv).toBe(value);
  });

  it('refuses anything else, naming the allowed values, before a secret is generated', () => {
    expect(() => ingress({ NODE_ENV: 'prod' })).toThrow(/NODE_ENV: NODE_ENV must be one of development, production, test/);
    const envPath = join(mkdtempSync(join(tmpdir(), 'vapi-relay-')), '.env');
    expect(() => resolveEnvironment({ NODE_ENV: 'prod' }, envPath)).toThrow(/NODE_ENV must be one of development, production, test, not prod/);
  });
});
