import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { migrateDatabase } from '#shared/db/migrate';
import { waitFor } from '../helpers/wait-for.ts';

const run = promisify(execFile);

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));

/**
 * A Redis of the suite's own on a free port, durable like production's (AOF, fsync on every
 * write), so stopping it with SIGKILL loses nothing it acknowledged. Never the machine's Redis.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async create(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), mkdtempSync(join(tmpdir(), 'faults-redis-')));
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir],
      { stdio: 'ignore' },
    );
    await waitFor(async () => (await run('redis-cli', ['-p', String(this.port), 'ping'])).stdout.includes('PONG'), 10_000);
  }

  /** Stops it the hard way: what it acknowledged is on disk, the rest never was. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await exited(this.child);
    this.child = null;
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The newest PostgreSQL server binaries Debian installed. */
function postgresBin(name: string): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
  return join('/usr/lib/postgresql', versions.at(-1)!, 'bin', name);
}

const isRoot = process.getuid?.() === 0;

/** Runs a server binary as the `postgres` user when we are root (initdb and postgres refuse root). */
const asPostgres = (command: string, args: string[]) => (isRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args));

/**
 * A PostgreSQL cluster of the suite's own (initdb + pg_ctl) on a free port, with its socket in its
 * own directory and the app's database migrated: stopped, started and made read-only without
 * touching the machine's Postgres.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async create(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'faults-pg-'));
    if (isRoot) {
      const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout);
      chownSync(dir, await id('-u'), await id('-g'));
    }
    await asPostgres(postgresBin('initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const pg = new PrivatePostgres(await freePort(), dir);
    await pg.start();
    await migrateDatabase(pg.url());
    return pg;
  }

  url(database = 'vapi_relay'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off -c max_connections=200`;
    await asPostgres(postgresBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-o', options, '-w', 'start']);
  }

  /** Stops it as a crash would (immediate shutdown: every connection cut, recovery on the next start). */
  async stop(): Promise<void> {
    await asPostgres(postgresBin('pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  /** Makes every transaction read-only (or writable again), cutting the connections open now. */
  async setReadOnly(on: boolean): Promise<void> {
    const sql = postgres(this.url('postgres'), { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(on ? 'alter system set default_transaction_read_only = on' : 'alter system reset default_transaction_read_only');
      await sql`select pg_reload_conf()`;
      if (on) await sql`select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend'`;
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether nothing listens on `port` of 127.0.0.1 right now. */
const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A three-master Redis Cluster of the suite's own (`--cluster-enabled yes`, joined with
 * `redis-cli --cluster create`), durable like PrivateRedis. Each node also needs its port + 10000
 * free, for the cluster bus.
 */
export class PrivateRedisCluster {
  private readonly children: ChildProcess[] = [];
  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  static async create(): Promise<PrivateRedisCluster> {
    const ports: number[] = [];
    while (ports.length < 3) {
      const port = 20_000 + Math.floor(Math.random() * 10_000);
      if (!ports.includes(port) && (await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
    }
    const cluster = new PrivateRedisCluster(ports, mkdtempSync(join(tmpdir(), 'faults-cluster-')));
    for (const port of ports) {
      const dir = join(cluster.dir, String(port));
      mkdirSync(dir);
      cluster.children.push(
        spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--save',
            '',
            '--appendonly',
            'yes',
            '--appendfsync',
            'always',
            '--dir',
            dir,
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'ping'])).stdout.includes('PONG'), 10_000);
    await run('redis-cli', ['--cluster', 'create', ...cluster.nodes, '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await waitFor(async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), 20_000);
    }
    return cluster;
  }

  /** `host:port` of every node, as REDIS_CLUSTER_NODES takes them. */
  get nodes(): string[] {
    return this.ports.map((port) => `127.0.0.1:${port}`);
  }

  async destroy(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.all(this.children.map(exited));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
