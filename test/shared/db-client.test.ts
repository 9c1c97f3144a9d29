import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '#shared/db/client';
import { TEST_DATABASE_URL } from '../helpers/environment.ts';
import { waitFor } from '../helpers/wait-for.ts';

const observer = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
afterAll(() => observer.end({ timeout: 1 }));

/** A pool whose connections carry their own application_name, to find them in pg_stat_activity. */
function namedPool(options: Parameters<typeof createDatabase>[1] = {}) {
  const name = `db-client-test-${randomUUID().slice(0, 8)}`;
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('application_name', name);
  return { name, handle: createDatabase(url.toString(), options) };
}

const connectionsNamed = async (name: string) => {
  const [row] = await observer<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = ${name}`;
  return row!.n;
};

describe('the pooled connection', () => {
  it('is bounded by the server: statements, lock waits, idle transactions, and keepalives on a vanished peer', async () => {
    const { handle } = namedPool({ max: 1 });
    try {
      const settings = await handle.sql<{ name: string; setting: string }[]>`
        select name, setting from pg_settings
        where name in ('statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'tcp_keepalives_idle', 'tcp_keepalives_interval', 'tcp_keepalives_count')
        order by name`;
      // Over a Unix socket the keepalives read 0; the test database is reached over TCP.
      expect(Object.fromEntries(settings.map((row) => [row.name, row.setting]))).toEqual({
        idle_in_transaction_session_timeout: '5000',
        lock_timeout: '3000',
        statement_timeout: '10000',
        tcp_keepalives_count: '3',
        tcp_keepalives_idle: '10',
        tcp_keepalives_interval: '5',
      });
    } finally {
      await handle.close();
    }
  });

  it('ends a transaction left idle (its process stopped), releasing its locks for everyone else', async () => {
    const { handle } = namedPool({ max: 2 });
    try {
      const table = `idle_tx_${randomUUID().slice(0, 8)}`;
      await handle.sql.unsafe(`create table ${table} (id int primary key)`);
      await handle.sql.unsafe(`insert into ${table} values (1)`);
      // A transaction that takes a row lock, then goes quiet for good, as a frozen worker's does.
      const frozen = handle.sql
        .begin(async (tx) => {
          await tx.unsafe(`select id from ${table} where id = 1 for update`);
          await new Promise(() => {});
        })
        .catch((error: unknown) => error);
      await waitFor(async () => {
        const [row] = await observer<
          { n: number }[]
        >`select count(*)::int as n from pg_stat_activity where state = 'idle in transaction' and query like ${`%${table}%`}`;
        return row!.n === 1;
      });
      // The same row, wanted by another connection, is free once Postgres ends the idle transaction (5 s), well before 8 s.
      const startedAt = Date.now();
      await observer.begin(async (tx) => {
        await tx.unsafe("set local lock_timeout = '8s'");
        await tx.unsafe(`select id from ${table} where id = 1 for update`);
      });
      expect(Date.now() - startedAt).toBeGreaterThan(4_000);
      // Ended by Postgres while it sleeps: its connection is gone.
      expect(await frozen).toMatchObject({ code: 'CONNECTION_CLOSED' });
      await observer.unsafe(`drop table ${table}`);
    } finally {
      await handle.close();
    }
  }, 15_000);

  it('closes connections nobody uses any more, so a quiet pool holds none', async () => {
    const { name, handle } = namedPool({ max: 4, idleTimeoutS: 1 });
    try {
      await Promise.all(Array.from({ length: 4 }, () => handle.sql`select pg_sleep(0.2)`));
      expect(await connectionsNamed(name)).toBe(4);
      await waitFor(async () => (await connectionsNamed(name)) === 0, 5_000);
      const defaults = createDatabase(TEST_DATABASE_URL);
      expect(defaults.sql.options.idle_timeout).toBe(30);
      await defaults.close();
    } finally {
      await handle.close();
    }
  });
});
