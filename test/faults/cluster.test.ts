import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'node:http';
import { Cluster } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRelayToken } from '#shared/relay-token';
import { STREAM_PATH } from '../../services/relay/plugins/stream.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { openClient } from '../relay/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { expectNothingLost } from './checks.ts';
import { PrivatePostgres, PrivateRedisCluster } from './private-services.ts';
import { Stack } from './stack.ts';
import { CallStream } from './traffic.ts';

const STREAM_S = Number(process.env.FAULTS_CLUSTER_STREAM_S ?? 30);

let cluster: PrivateRedisCluster;
let pg: PrivatePostgres;
let stack: Stack;

beforeAll(async () => {
  [cluster, pg] = await Promise.all([PrivateRedisCluster.create(), PrivatePostgres.create()]);
  stack = await Stack.start('cluster', { databaseUrl: pg.url(), redis: { REDIS_CLUSTER_NODES: cluster.nodes.join(',') } });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([cluster?.destroy(), pg?.destroy()]);
}, 60_000);

/** A POST with a bad signature from `localAddress` (another loopback address than the stream's): its status. */
const unsignedPostFrom = (localAddress: string, url: string) =>
  new Promise<number>((resolve, reject) => {
    const req = request(
      `${url}${WEBHOOK_PATH}`,
      { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'x-vapi-signature': 'f'.repeat(64) } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end('{}');
  });

describe('the same stream against a three-master Redis Cluster', () => {
  it('queues, dedups, relays live and durable events, rate-limits and notifies with each queue in one slot', async () => {
    const { roles } = stack;
    const stream = new CallStream(roles.ingress.url, 8, 60);
    stream.start();
    stack.mark('stream started');

    // An app watching one patient's call through the relay: every sequenced event, in order, once.
    const patientId = 'patient-watched';
    const token = signRelayToken({ patientId, expiresAt: Math.floor(Date.now() / 1000) + 3600 }, stack.relayJwtSecret);
    const app = await openClient(`ws://127.0.0.1:${roles.relay.port}${STREAM_PATH}`, token);
    const watched = await stream.playCall(patientId);

    await sleep(STREAM_S * 500);
    await roles.worker.stop('SIGKILL');
    stack.mark('worker killed (SIGKILL)');
    await roles.worker.start();
    await sleep(STREAM_S * 500);

    // Failed authentications from 127.0.0.2 are counted in the cluster; the 51st in a minute gets 429.
    while (new Date().getSeconds() > 50) await sleep(500); // the burst stays inside one one-minute window
    const statuses: number[] = [];
    for (let i = 0; i < 55; i++) statuses.push(await unsignedPostFrom('127.0.0.2', roles.ingress.url));
    await stream.stop();
    stack.mark('stream stopped', stream.counts);

    const connection = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    const sql = postgres(pg.url(), { max: 1, onnotice: () => {} });
    try {
      const report = await expectNothingLost(stack, stream, { databaseUrl: pg.url(), redis: connection, workerKills: 1 });
      const [session] = await sql<{ last_seq: number }[]>`select last_seq from vapi_sessions where id = ${watched.callId}`;
      const lastSeq = session!.last_seq;
      const seqs = await waitFor(() => app.seqs(watched.callId).length >= lastSeq && app.seqs(watched.callId), 30_000);
      // Every key the service wrote sits under the {vapi} hash tag: one slot.
      const slots = new Set<number>();
      for (const node of connection.nodes('master')) {
        const keys = await node.keys('*');
        for (const key of keys) slots.add(Number(await node.cluster('KEYSLOT', key)));
      }
      console.log(
        'cluster report',
        JSON.stringify({ ...report, watchedSeqs: seqs.length, slots: [...slots], rateLimited: statuses.filter((s) => s === 429).length }),
      );

      expect(seqs).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      expect(statuses.slice(0, 50).every((status) => status === 401)).toBe(true);
      expect(statuses.slice(50).every((status) => status === 429)).toBe(true);
      expect(slots.size).toBe(1);
    } finally {
      app.ws.close();
      connection.disconnect();
      await sql.end({ timeout: 1 });
    }
  }, 600_000);
});
