import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { schema } from './schema.ts';

export type Database = PostgresJsDatabase<typeof schema>;

/** The handle a `db.transaction` callback receives: what repositories write through. */
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

export interface DatabaseHandle {
  db: Database;
  /** The underlying driver, for health checks and the rare raw statement. */
  sql: postgres.Sql;
  close(): Promise<void>;
}

type Unsafe = postgres.Sql['unsafe'];
type Begin = (...args: unknown[]) => Promise<unknown>;

/**
 * Drizzle runs every statement through `unsafe(query, params)`, which postgres.js executes
 * unprepared, describing the parameters first: two round trips per statement (drizzle-orm#6096).
 * Asking for prepared statements, here and inside transactions, lets postgres.js cache each
 * statement per connection and run it in one round trip. The statements are a small set (a
 * multi-row insert adds one per row count), and connections are recycled by postgres.js.
 */
function preparing(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        const unsafe: Unsafe = (query, parameters, options) => target.unsafe(query, parameters, { ...options, prepare: true });
        return unsafe;
      }
      if (property === 'begin') {
        const begin: Begin = (...args) => {
          const work = args.pop() as (tx: postgres.Sql) => unknown;
          return (target.begin as unknown as Begin)(...args, (tx: postgres.Sql) => work(preparing(tx)));
        };
        return begin;
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * What every pooled connection but a migration's is bounded by, on the server side:
 * - `statement_timeout` 10 s, `lock_timeout` 3 s: a database that hangs fails a job (to be retried)
 *   instead of holding a shutdown;
 * - `idle_in_transaction_session_timeout` 5 s: a process stopped inside a transaction (SIGSTOP, a VM
 *   paused, an event loop blocked) has it ended by Postgres, its row locks with it, instead of
 *   holding up every other worker's events of those calls until it wakes. Our transactions are idle
 *   between two statements for milliseconds, at most for a Redis command inside the outbox
 *   dispatcher's (2 s timeout): 5 s is past both, and a short stall for the other workers;
 * - TCP keepalives after 10 s idle, every 5 s, 3 lost: a peer that vanished (a host gone, a
 *   partition) has its session ended within about 25 s rather than the system's two hours.
 */
const SESSION_BOUNDS = {
  statement_timeout: 10_000,
  lock_timeout: 3_000,
  idle_in_transaction_session_timeout: 5_000,
  tcp_keepalives_idle: 10,
  tcp_keepalives_interval: 5,
  tcp_keepalives_count: 3,
};

/** Seconds a pooled connection may sit unused before it is closed, in every role: a quiet pool holds none. */
const IDLE_TIMEOUT_S = 30;

/**
 * Opens a pooled connection; the caller owns it and must `close()` it. Waits are bounded (above),
 * so a database that hangs fails a job instead of holding a shutdown; migrations, which may
 * legitimately take long, ask for `unbounded`. A connection unused for 30 s is closed (postgres.js
 * hands each query to the connection idle longest, so a pool shrinks once traffic falls below one
 * query per connection in that time), and the client probes its own side every 10 s idle too
 * (`keep_alive`; libuv then probes every second, ten times).
 */
export function createDatabase(url: string, options: { max?: number; unbounded?: boolean; idleTimeoutS?: number } = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    idle_timeout: options.idleTimeoutS ?? IDLE_TIMEOUT_S,
    keep_alive: 10,
    connection: options.unbounded ? {} : SESSION_BOUNDS,
  });
  const db = drizzle(preparing(sql), { schema, casing: 'snake_case' });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
