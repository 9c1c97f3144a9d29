import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { deleteKeys, openTestRedis } from '../helpers/redis.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { realisticCall } from '../fixtures/vapi-call.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** Everything the server sends on `socket` until it closes the connection. */
const readAll = (socket: net.Socket) =>
  new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });

const config = testConfig();
const redis = openTestRedis();
afterAll(async () => {
  await deleteKeys(redis, config.queuePrefix);
  redis.disconnect();
});

describe('graceful shutdown', () => {
  it('answers a request that was still arriving when shutdown began with the contract 503, and closes', async () => {
    const app = await buildIngressApp({ config, logger: silentLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;

    const body = JSON.stringify(realisticCall().events[0]);
    const headers = { ...hmacHeaders(body), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const head = `POST ${WEBHOOK_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')}\r\n`;
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const answer = readAll(socket);
    // Half the request is on the wire when the shutdown begins...
    await new Promise((resolve) => socket.write(head.slice(0, 40), resolve));
    const closed = app.close();
    await waitFor(() => !app.server.listening);
    // ...and the rest arrives while it closes.
    socket.write(head.slice(40) + body);

    const response = await answer;
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 503 /);
    expect(response.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toMatchObject({ success: false, code: 'UNAVAILABLE' });
  });
});
