import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createServiceApp } from '#shared/http/service-app';
import { silentLogger } from '../helpers/config.ts';

let app: FastifyInstance | undefined;
afterEach(() => app?.close());

/** Opens a raw connection, writes `chunks` one at a time `everyMs` apart, and resolves when the server hangs up. */
function dribble(port: number, chunks: string[], everyMs: number): Promise<{ closedAfterMs: number; answer: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i < chunks.length && !socket.destroyed) socket.write(chunks[i++]!);
    }, everyMs);
    socket.on('data', (data) => (answer += data.toString()));
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, answer });
    });
    socket.on('error', () => {});
  });
}

describe('server timeouts on every role', () => {
  it('cut off a client that dribbles its headers or its body', async () => {
    app = await createServiceApp('ingress', silentLogger(), {}, { headersMs: 300, requestMs: 600, idleMs: 2_000 });
    app.post('/slow', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as net.AddressInfo;

    const headers = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'.split('');
    const slowHeaders = await dribble(port, headers, 50);
    expect(slowHeaders.closedAfterMs).toBeLessThan(headers.length * 50);

    const body = '{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}';
    const slowBody = await dribble(
      port,
      [`POST /slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, ...body.split('')],
      50,
    );
    expect(slowBody.closedAfterMs).toBeLessThan((body.length + 1) * 50);
    expect(slowBody.answer).not.toContain('"ok":true');
  });
});
