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
 * Opens a pooled connection; the caller owns it and must `close()` it. Waits are bounded, so a
 * database that hangs fails a job (to be retried) instead of holding a shutdown; migrations, which
 * may legitimately take long, ask for `unbounded`.
 */
export function createDatabase(url: string, options: { max?: number; unbounded?: boolean } = {}): DatabaseHandle {
  const sql = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: 5,
    connection: options.unbounded ? {} : { statement_timeout: 10_000, lock_timeout: 3_000 },
  });
  const db = drizzle(preparing(sql), { schema, casing: 'snake_case' });
  return { db, sql, close: () => sql.end({ timeout: 5 }) };
}
