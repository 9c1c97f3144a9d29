import net from 'node:net';

/** A request ready to send: its method (POST unless said), body and headers (content-length is added here). */
export interface BenchRequest {
  method?: 'GET' | 'POST';
  body: string;
  headers: Record<string, string>;
}

/** What came back: the status (0 when the connection failed) and the body. */
export interface BenchAnswer {
  status: number;
  body: string;
}

interface Connection {
  socket: net.Socket;
  received: Buffer;
  answer: ((answer: BenchAnswer) => void) | null;
  /** The server said `connection: close`: not given back to the pool. */
  closing: boolean;
  /** Answers read on it so far. */
  answered: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * POSTs over a pool of kept-alive HTTP/1.1 connections on raw sockets, for the bench's load
 * generator and call players. `node:http`'s client costs more CPU per request than the servers it
 * measures, which made it the bottleneck of the bench's fastest references; this writes a
 * pre-encoded request and reads the answer's status line and `content-length`, nothing more. It
 * speaks only to our own servers, which frame every answer with a `content-length`.
 */
export class KeepAliveClient {
  readonly #host: string;
  readonly #port: number;
  readonly #path: string;
  readonly #maxSockets: number;
  readonly #idle: Connection[] = [];
  /** Requests waiting for a connection; `null` when none could be opened. */
  readonly #waiting: ((connection: Connection | null) => void)[] = [];
  #open = 0;

  constructor(url: string, maxSockets: number) {
    const { hostname, port, pathname, search } = new URL(url);
    this.#host = hostname;
    this.#port = Number(port);
    this.#path = `${pathname}${search}`;
    this.#maxSockets = maxSockets;
  }

  /** The bytes of one request to this client's URL. */
  encode({ method = 'POST', body, headers }: BenchRequest): Buffer {
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    const head = `${method} ${this.#path} HTTP/1.1\r\nhost: ${this.#host}:${this.#port}\r\n${lines.join('')}content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head), Buffer.from(body)]);
  }

  /**
   * Sends encoded bytes on a free connection (waiting for one when all `maxSockets` are busy). A
   * kept-alive connection the server closed as idle just as the request went out is not an
   * answer: the request is sent again, once, on another connection.
   */
  async send(bytes: Buffer, retry = true): Promise<BenchAnswer> {
    const connection = await this.#take();
    if (!connection) return { status: 0, body: '' };
    const reused = connection.answered > 0;
    const answer = await new Promise<BenchAnswer>((resolve) => {
      connection.answer = (answer) => {
        connection.answer = null;
        if (answer.status > 0 && !connection.closing) this.#give(connection);
        resolve(answer);
      };
      connection.socket.write(bytes);
    });
    const closedWhileIdle = answer.status === 0 && reused && connection.received.length === 0;
    return closedWhileIdle && retry ? this.send(bytes, false) : answer;
  }

  close(): void {
    for (const { socket } of this.#idle) socket.destroy();
  }

  #take(): Promise<Connection | null> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#open < this.#maxSockets) return this.#connect();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #give(connection: Connection): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(connection);
    else this.#idle.push(connection);
  }

  #connect(): Promise<Connection | null> {
    this.#open++;
    return new Promise((resolve) => {
      const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
      const connection: Connection = { socket, received: Buffer.alloc(0), answer: null, closing: false, answered: 0 };
      let connected = false;
      socket.on('connect', () => {
        connected = true;
        resolve(connection);
      });
      socket.on('data', (chunk: Buffer) => this.#read(connection, chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        this.#open--;
        if (!connected) {
          // Nothing listens: every request waiting for a connection fails with this one.
          for (const waiter of this.#waiting.splice(0)) waiter(null);
          return resolve(null);
        }
        const at = this.#idle.indexOf(connection);
        if (at >= 0) this.#idle.splice(at, 1);
        connection.answer?.({ status: 0, body: '' });
        // A request waiting for a connection gets a new one in place of the one that closed.
        const waiter = this.#waiting.shift();
        if (waiter) void this.#connect().then(waiter);
      });
    });
  }

  #read(connection: Connection, chunk: Buffer): void {
    connection.received = connection.received.length === 0 ? chunk : Buffer.concat([connection.received, chunk]);
    const headEnd = connection.received.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = connection.received.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
    if (!Number.isFinite(length)) {
      connection.socket.destroy(new Error('answer without content-length'));
      return;
    }
    const end = headEnd + HEAD_END.length + length;
    if (connection.received.length < end) return;
    const body = connection.received.subarray(headEnd + HEAD_END.length, end).toString('utf8');
    connection.received = connection.received.subarray(end);
    connection.answered++;
    const status = Number(head.slice(9, 12));
    if (/\r\nconnection: *close/i.test(head)) {
      connection.closing = true;
      connection.socket.end();
    }
    connection.answer?.({ status, body });
  }
}
