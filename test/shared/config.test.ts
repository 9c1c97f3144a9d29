import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SECRET_VARIABLES } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';
import { waitFor } from '../helpers/wait-for.ts';

const secrets = {
  VAPI_WEBHOOK_SECRET: 'a3f9c1d2e4b5',
  RELAY_JWT_SECRET: 'relay-jwt-9b8c7d6e',
  DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  ADMIN_TOKEN: 'admin-token-5e4d3c',
};
const tempEnvPath = () => join(mkdtempSync(join(tmpdir(), 'vapi-relay-')), '.env');

describe('loadConfig', () => {
  it('validates only what the roles asked for use', () => {
    const worker = loadConfig({ DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY, ADMIN_TOKEN: secrets.ADMIN_TOKEN }, ['worker']);
    expect(worker).toMatchObject({ workerPort: 3002, workerConcurrency: 64, notify: { urls: [] } });
    expect(worker).not.toHaveProperty('vapi');
    expect(worker).not.toHaveProperty('relayJwtSecret');
    expect(() => loadConfig({ ADMIN_TOKEN: secrets.ADMIN_TOKEN, DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY }, ['relay'])).toThrow(/RELAY_JWT_SECRET/);
  });

  it.each([
    [{ RELAY_TOKEN_MAX_TTL_S: String(86_400_000) }, /RELAY_TOKEN_MAX_TTL_S is in seconds, at most 30 days/],
    [{ RELAY_TOKEN_MAX_TTL_S: '0' }, /RELAY_TOKEN_MAX_TTL_S/],
    [{ RELAY_MAX_SOCKETS_PER_PATIENT: '0' }, /RELAY_MAX_SOCKETS_PER_PATIENT/],
  ])('refuses relay limits that would bound nothing: %j', (env, message) => {
    expect(() => loadConfig({ ...secrets, ...env }, ['relay'])).toThrow(message);
  });

  it('applies the contract defaults', () => {
    const config = loadConfig(secrets);
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/vapi_relay');
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379', clusterNodes: [] });
    expect(config).toMatchObject({ ingressPort: 3000, relayPort: 3001, workerPort: 3002, toolDeadlineMs: 15_000 });
    expect(config).toMatchObject({ relayMaxSocketsPerPatient: 16, relayTokenMaxTtlS: 86_400 });
    expect(config.rateLimit).toEqual({ unverifiedPerMinute: 50, verifiedPerMinute: 0 });
    expect(config.vapi).toMatchObject({
      auth: 'hmac',
      signatureHeader: 'x-vapi-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      signaturePrefix: '',
      payloadFormat: '{body}',
      timestampToleranceS: 300,
      bodyLimitBytes: 5 * 1024 * 1024,
    });
  });

  it('reconciles silent calls after RECONCILE_AFTER_S (decimals allowed), asking VAPI_API_URL only with a key', () => {
    expect(loadConfig(secrets, ['worker']).reconcile).toEqual({ afterS: 900, vapiApiKey: '', vapiApiUrl: 'https://api.vapi.ai' });
    const set = loadConfig({ ...secrets, RECONCILE_AFTER_S: '0.5', VAPI_API_KEY: 'k-123', VAPI_API_URL: 'http://127.0.0.1:9/' }, ['worker']);
    expect(set.reconcile).toEqual({ afterS: 0.5, vapiApiKey: 'k-123', vapiApiUrl: 'http://127.0.0.1:9' });
    expect(() => loadConfig({ ...secrets, RECONCILE_AFTER_S: '0' }, ['worker'])).toThrow('RECONCILE_AFTER_S');
    expect(() => loadConfig({ ...secrets, RECONCILE_AFTER_S: 'soon' }, ['worker'])).toThrow('RECONCILE_AFTER_S');
    expect(() => loadConfig({ ...secrets, VAPI_API_URL: 'ftp://api.vapi.ai' }, ['worker'])).toThrow('VAPI_API_URL must be an http(s) URL');
  });

  it('signs {timestamp}.{body} once a timestamp header is set, and lists secrets for rotation', () => {
    const config = loadConfig({ ...secrets, VAPI_TIMESTAMP_HEADER: 'X-Timestamp', VAPI_WEBHOOK_SECRET: 'new-one-abc, old-one-def' });
    expect(config.vapi.payloadFormat).toBe('{timestamp}.{body}');
    expect(config.vapi.timestampHeader).toBe('x-timestamp');
    expect(config.vapi.secrets).toEqual(['new-one-abc', 'old-one-def']);
  });

  it('names every invalid variable', () => {
    const attempt = () => loadConfig({ ...secrets, VAPI_AUTH: 'basic', DATA_ENCRYPTION_KEY: 'c2hvcnQ=', PORT: 'eighty' });
    expect(attempt).toThrow(ConfigError);
    for (const name of ['VAPI_AUTH', 'PORT', 'DATA_ENCRYPTION_KEY']) expect(attempt).toThrow(name);
  });

  it.each([
    [{ VAPI_TIMESTAMP_HEADER: 'x-timestamp', VAPI_SIGNATURE_PAYLOAD: '{body}' }, /must include \{timestamp\}/],
    [{ VAPI_SIGNATURE_PAYLOAD: '{timestamp}.{body}' }, /set VAPI_TIMESTAMP_HEADER/],
    [{ VAPI_SIGNATURE_PAYLOAD: '{svix-id}.{body}' }, /set VAPI_MESSAGE_ID_HEADER/],
    [{ VAPI_SIGNATURE_PAYLOAD: '{url}.{body}' }, /set VAPI_WEBHOOK_URL/],
    [{ VAPI_SIGNATURE_PAYLOAD: '{timestamp}', VAPI_TIMESTAMP_HEADER: 'x-timestamp' }, /must include \{body\}/],
    [{ VAPI_TIMESTAMP_TOLERANCE_S: '300000' }, /at most a day/],
  ])('refuses a signing setup that would leave part of it unsigned or meaningless: %j', (env, message) => {
    expect(() => loadConfig({ ...secrets, ...env })).toThrow(message);
  });

  it('serves the admin scope on the webhook port unless ADMIN_PORT gives it one, on ADMIN_HOST or else HOST', () => {
    expect(loadConfig(secrets).adminListener).toBeUndefined();
    expect(loadConfig({ ...secrets, ADMIN_PORT: '' }).adminListener).toBeUndefined();
    expect(loadConfig({ ...secrets, ADMIN_PORT: '9400' }).adminListener).toEqual({ host: '0.0.0.0', port: 9400 });
    expect(loadConfig({ ...secrets, ADMIN_PORT: '9400', HOST: '10.0.0.5' }).adminListener).toEqual({ host: '10.0.0.5', port: 9400 });
    expect(loadConfig({ ...secrets, ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1' }).adminListener).toEqual({ host: '127.0.0.1', port: 0 });
    expect(() => loadConfig({ ...secrets, ADMIN_PORT: '3000' })).toThrow(/ADMIN_PORT must differ from PORT/);
    expect(() => loadConfig({ ...secrets, ADMIN_PORT: 'admin' })).toThrow(/ADMIN_PORT/);
    // Only the ingress reads them.
    expect(
      loadConfig({ DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY, ADMIN_TOKEN: secrets.ADMIN_TOKEN, ADMIN_PORT: 'admin' }, ['worker']),
    ).not.toHaveProperty('adminListener');
  });

  it('reads the queues a worker consumes from WORKER_QUEUES: all unless set, spaces and duplicates tolerated', () => {
    const worker = (env: Record<string, string>) =>
      loadConfig({ DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY, ADMIN_TOKEN: secrets.ADMIN_TOKEN, ...env }, ['worker']);
    expect(worker({}).workerQueues).toEqual(['events', 'live', 'tools', 'notifications']);
    expect(worker({ WORKER_QUEUES: 'tools, live ,tools,' }).workerQueues).toEqual(['live', 'tools']);
    expect(worker({ WORKER_QUEUES: 'events,notifications' }).workerQueues).toEqual(['events', 'notifications']);
    // A process that delivers no notifications needs no signing key, even where the endpoints are set.
    expect(() => worker({ WORKER_QUEUES: 'live,tools', NODE_ENV: 'production', NOTIFY_WEBHOOK_URL: 'https://hooks.example/calls' })).not.toThrow();
    expect(() => worker({ WORKER_QUEUES: 'notifications', NOTIFY_WEBHOOK_URL: 'https://hooks.example/calls' })).toThrow(/NOTIFY_WEBHOOK_SECRET/);
  });

  it.each([
    ['live,tool', /WORKER_QUEUES: unknown queue name\(s\) tool; the queues are events, live, tools, notifications/],
    ['Events', /unknown queue name\(s\) Events;/],
    ['vapi-live', /unknown queue name\(s\) vapi-live;/],
    ['', /WORKER_QUEUES: no queue named; the queues are events, live, tools, notifications/],
    [' , ', /WORKER_QUEUES: no queue named/],
  ])('refuses WORKER_QUEUES=%j, naming what is wrong', (value, message) => {
    const attempt = () => loadConfig({ DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY, ADMIN_TOKEN: secrets.ADMIN_TOKEN, WORKER_QUEUES: value }, ['worker']);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('reads the RETENTION_* periods in days, decimals allowed, 0 keeping forever, and refuses what is not a period', () => {
    const worker = (env: Record<string, string>) =>
      loadConfig({ DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY, ADMIN_TOKEN: secrets.ADMIN_TOKEN, ...env }, ['worker']);
    expect(worker({}).retention).toEqual({ eventPayloadDays: 30, deliveryDays: 30, sessionDays: 0 });
    expect(worker({ RETENTION_EVENT_PAYLOAD_DAYS: '0.5', RETENTION_DELIVERY_DAYS: '0', RETENTION_SESSION_DAYS: '365' }).retention).toEqual({
      eventPayloadDays: 0.5,
      deliveryDays: 0,
      sessionDays: 365,
    });
    expect(() => worker({ RETENTION_SESSION_DAYS: '-1' })).toThrow(/RETENTION_SESSION_DAYS/);
    expect(() => worker({ RETENTION_DELIVERY_DAYS: 'thirty' })).toThrow(/RETENTION_DELIVERY_DAYS/);
  });

  it("reads the clinic's FHIR server for the worker: off unless set, an http(s) base without query, the token only with a base", () => {
    const worker = (env: Record<string, string>) => loadConfig({ ...secrets, ...env }, ['worker']);
    expect(worker({}).fhir).toEqual({ baseUrl: '', authToken: '' });
    expect(worker({ FHIR_BASE_URL: 'https://ehr.example/fhir/R4/', FHIR_AUTH_TOKEN: 'tok-123' }).fhir).toEqual({
      baseUrl: 'https://ehr.example/fhir/R4',
      authToken: 'tok-123',
    });
    expect(() => worker({ FHIR_BASE_URL: 'ftp://ehr.example/fhir' })).toThrow(/FHIR_BASE_URL must be an http\(s\) URL/);
    expect(() => worker({ FHIR_BASE_URL: 'https://ehr.example/fhir?_format=json' })).toThrow(/no query or fragment/);
    expect(() => worker({ FHIR_AUTH_TOKEN: 'tok-123' })).toThrow(/FHIR_AUTH_TOKEN is set but FHIR_BASE_URL is not/);
    expect(() => worker({ FHIR_BASE_URL: 'https://ehr.example/fhir', FHIR_AUTH_TOKEN: 'Bearer tok' })).toThrow(/FHIR_AUTH_TOKEN must not contain whitespace/);
    expect(() => worker({ FHIR_BASE_URL: 'https://ehr.example/fhir', NOTIFY_WEBHOOK_URL: 'https://ehr.example/fhir/' })).toThrow(
      /must not also be one of NOTIFY_WEBHOOK_URL/,
    );
    expect(loadConfig({ ...secrets, FHIR_BASE_URL: 'not a url' }, ['relay'])).not.toHaveProperty('fhir');
  });

  it('refuses well-known placeholder secrets', () => {
    expect(() => loadConfig({ ...secrets, ADMIN_TOKEN: 'changeme' })).toThrow(/ADMIN_TOKEN/);
    expect(() => loadConfig({ ...secrets, VAPI_WEBHOOK_SECRET: 'real-one-123,secret' })).toThrow(/VAPI_WEBHOOK_SECRET/);
  });
});

describe('resolveEnvironment', () => {
  it('generates missing secrets once into a private .env, and reuses them on the next start', () => {
    const envPath = tempEnvPath();
    const first = resolveEnvironment({}, envPath);
    expect(first.generated).toEqual(['VAPI_WEBHOOK_SECRET', 'RELAY_JWT_SECRET', 'DATA_ENCRYPTION_KEY', 'ADMIN_TOKEN', 'NOTIFY_WEBHOOK_SECRET']);
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
    expect(() => loadConfig(first.env)).not.toThrow();

    const second = resolveEnvironment({}, envPath);
    expect(second.generated).toEqual([]);
    expect(second.env.DATA_ENCRYPTION_KEY).toBe(first.env.DATA_ENCRYPTION_KEY);
    expect(readFileSync(envPath, 'utf8').match(/ADMIN_TOKEN=/g)).toHaveLength(1);
  });

  it('lets the environment win over .env', () => {
    const envPath = tempEnvPath();
    writeFileSync(envPath, 'PORT=4000\nADMIN_TOKEN="from-file-token"\n');
    const { env } = resolveEnvironment({ PORT: '5000' }, envPath);
    expect(env.PORT).toBe('5000');
    expect(env.ADMIN_TOKEN).toBe('from-file-token');
  });

  it('stops in production, naming each missing secret, and writes nothing', () => {
    const envPath = tempEnvPath();
    expect(() => resolveEnvironment({ NODE_ENV: 'production', ADMIN_TOKEN: 'x-admin-123' }, envPath)).toThrow(
      /VAPI_WEBHOOK_SECRET, RELAY_JWT_SECRET, DATA_ENCRYPTION_KEY\. /,
    );
    expect(() => statSync(envPath)).toThrow();
  });

  it('asks each role only for the secrets it holds', () => {
    const envPath = tempEnvPath();
    const production = { NODE_ENV: 'production', ADMIN_TOKEN: 'x-admin-123', DATA_ENCRYPTION_KEY: secrets.DATA_ENCRYPTION_KEY };
    // The worker never holds the webhook secret or the relay's JWT key, and needs the notification key only to notify.
    expect(resolveEnvironment(production, envPath, ['worker']).generated).toEqual([]);
    expect(() => resolveEnvironment({ ...production, NOTIFY_WEBHOOK_URL: 'https://hooks.example/x' }, envPath, ['worker'])).toThrow(
      /: NOTIFY_WEBHOOK_SECRET\./,
    );
    expect(
      resolveEnvironment({ ...production, NOTIFY_WEBHOOK_URL: 'https://hooks.example/x', WORKER_QUEUES: 'events,live,tools' }, envPath, ['worker']).generated,
    ).toEqual([]);
    expect(() => resolveEnvironment(production, envPath, ['relay'])).toThrow(/: RELAY_JWT_SECRET\./);
    expect(() => resolveEnvironment(production, envPath, ['ingress'])).toThrow(/: VAPI_WEBHOOK_SECRET\./);
  });
});

describe('resolveEnvironment from several processes at once', () => {
  it('waits for a process that is writing .env, then uses its secrets instead of generating others', async () => {
    const envPath = tempEnvPath();
    writeFileSync(`${envPath}.lock`, ''); // another process is generating secrets
    const script = `import { resolveEnvironment } from '#shared/secrets';
      import { writeSync } from 'node:fs';
      writeSync(1, 'starting\\n');
      const { env, generated } = resolveEnvironment({}, ${JSON.stringify(envPath)});
      writeSync(1, JSON.stringify({ key: env.DATA_ENCRYPTION_KEY, generated }));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await waitFor(() => out.startsWith('starting'));

    // The other process finishes: it writes its secrets, then releases the lock.
    const theirs = resolveEnvironment({}, join(dirname(envPath), 'theirs.env')).env;
    writeFileSync(envPath, SECRET_VARIABLES.map((name) => `${name}=${theirs[name]}`).join('\n'));
    rmSync(`${envPath}.lock`);

    expect(await exited).toBe(0);
    expect(JSON.parse(out.slice('starting\n'.length))).toEqual({ key: theirs.DATA_ENCRYPTION_KEY, generated: [] });
  });
});
