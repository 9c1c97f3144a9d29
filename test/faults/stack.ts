import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_ENCRYPTION_KEY, TEST_WEBHOOK_SECRET } from '../helpers/config.ts';
import { freePort } from './private-services.ts';
import { FAULT_ARTIFACTS, RoleProcess } from './role-process.ts';

/** One notification POST the receiver got. */
export interface Delivery {
  webhookId: string;
  sessionId: string;
  type: string;
}

export type Roles = { ingress: RoleProcess; worker: RoleProcess; relay: RoleProcess; secondWorker?: RoleProcess };

/**
 * The three roles as separate node processes against the given Redis and Postgres, a receiver for
 * their notifications, and a timeline of what the suite did to them, kept in test-artifacts/faults.
 */
export class Stack {
  private readonly timeline: { at: string; step: string; detail?: unknown }[] = [];

  private constructor(
    readonly name: string,
    readonly roles: Roles,
    /** Every notification POST the receiver got, in order. */
    readonly deliveries: Delivery[],
    readonly spoolDir: string,
    /** The relay's token key, to connect an app as a patient. */
    readonly relayJwtSecret: string,
    private readonly receiver: Server,
  ) {}

  /** `redis` is REDIS_URL or REDIS_CLUSTER_NODES, as the roles read them; `secondWorker` adds another worker process. */
  static async start(
    name: string,
    {
      databaseUrl,
      redis,
      secondWorker = false,
    }: { databaseUrl: string; redis: { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string }; secondWorker?: boolean },
  ): Promise<Stack> {
    const deliveries: Delivery[] = [];
    const receiver = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const parsed = JSON.parse(body) as { sessionId: string; type: string };
        deliveries.push({ webhookId: String(request.headers['webhook-id']), sessionId: parsed.sessionId, type: parsed.type });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const [ingressPort, workerPort, relayPort, secondWorkerPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const spoolDir = mkdtempSync(join(tmpdir(), 'faults-spool-'));
    const relayJwtSecret = randomBytes(32).toString('hex');
    const env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      ...redis,
      DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      ADMIN_TOKEN: randomBytes(16).toString('hex'),
      VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      RELAY_JWT_SECRET: relayJwtSecret,
      NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/calls`,
      NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      NOTIFY_RETRY_BASE_MS: '200',
      PORT: String(ingressPort),
      WORKER_PORT: String(workerPort),
      RELAY_PORT: String(relayPort),
      SPOOL_DIR: spoolDir,
    };
    const cwd = mkdtempSync(join(tmpdir(), 'faults-roles-'));
    const roles: Roles = {
      ingress: new RoleProcess(name, 'ingress', ingressPort, env, cwd),
      worker: new RoleProcess(name, 'worker', workerPort, env, cwd),
      relay: new RoleProcess(name, 'relay', relayPort, env, cwd),
      ...(secondWorker
        ? { secondWorker: new RoleProcess(name, 'worker', secondWorkerPort, { ...env, WORKER_PORT: String(secondWorkerPort) }, cwd, 'worker-2') }
        : {}),
    };
    const stack = new Stack(name, roles, deliveries, spoolDir, relayJwtSecret, receiver);
    await Promise.all(Object.values(roles).map((role) => role.start()));
    return stack;
  }

  /** Notes a step; a role that crashed since the last one ends the run at once, with its log to read. */
  mark(step: string, detail?: unknown): void {
    this.timeline.push({ at: new Date().toISOString(), step, detail });
    const crashes = Object.values(this.roles).flatMap((role) => role.crashes);
    if (crashes.length > 0) throw new Error(`${crashes.join('; ')} (see ${FAULT_ARTIFACTS})`);
  }

  async close(): Promise<void> {
    writeFileSync(join(FAULT_ARTIFACTS, `${this.name}-timeline.json`), JSON.stringify(this.timeline, null, 2));
    await Promise.all(Object.values(this.roles).map((role) => role.destroy()));
    await new Promise((resolve) => this.receiver.close(resolve));
  }
}
