import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase } from '#shared/db/client';
import { ensureDatabase } from '#shared/db/migrate';
import { TEST_DATABASE_URL } from '../helpers/environment.ts';

const MIGRATIONS = resolve(import.meta.dirname, '../../drizzle');
const url = TEST_DATABASE_URL.replace(/\/([^/]+)$/, '/$1_migration');

/** The migrations folder as it was before `tag` (the journal cut there). */
function migrationsBefore(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'migrations-'));
  cpSync(MIGRATIONS, folder, { recursive: true });
  const journalPath = join(folder, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(0, journal.entries.findIndex((entry) => entry.tag === tag));
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

async function dropDatabase() {
  const admin = postgres(url.replace(/\/[^/]+$/, '/postgres'), { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists "${new URL(url).pathname.slice(1)}" with (force)`);
  await admin.end();
}

afterAll(dropDatabase);

describe('migration 0003: admin_actions into audit_events', () => {
  it('copies every operator action into the audit log, naming each job, and drops the old table', async () => {
    await dropDatabase();
    await ensureDatabase(url);
    const handle = createDatabase(url, { max: 1, unbounded: true });
    try {
      await migrate(handle.db, { migrationsFolder: migrationsBefore('0003_audit_events') });
      await handle.sql`
        insert into admin_actions (action, queue, job_ids, filter, affected, actor_ip, created_at) values
          ('show', 'events', '["ev-1"]', '{"queue":"events","ids":["ev-1"]}', 1, '10.0.0.7', '2026-11-30T10:00:00Z'),
          ('replay', null, '["ev-1","nt-2"]', '{"type":"hang"}', 2, 'cli', '2026-11-30T10:01:00Z'),
          ('purge', 'events', '[]', '{"all":true}', 0, '10.0.0.7', '2026-11-30T10:02:00Z'),
          ('enable-endpoint', null, '[]', '{"url":"https://hooks.example/x"}', 0, null, '2026-11-30T10:03:00Z')`;
      await migrate(handle.db, { migrationsFolder: MIGRATIONS });

      const rows = await handle.sql`select at, actor, action, patient_id, session_id, what, source, outcome from audit_events order by id`;
      expect(rows.map((row) => ({ ...row, at: new Date(row.at as string).toISOString() }))).toEqual([
        { at: '2026-11-30T10:00:00.000Z', actor: 'admin', action: 'dead-letter.show', patient_id: null, session_id: null, what: ['dead letter events/ev-1'], source: '10.0.0.7', outcome: 'success' },
        { at: '2026-11-30T10:01:00.000Z', actor: 'admin', action: 'dead-letter.replay', patient_id: null, session_id: null, what: ['dead letter ev-1', 'dead letter nt-2'], source: 'cli', outcome: 'success' },
        { at: '2026-11-30T10:02:00.000Z', actor: 'admin', action: 'dead-letter.purge', patient_id: null, session_id: null, what: [], source: '10.0.0.7', outcome: 'success' },
        { at: '2026-11-30T10:03:00.000Z', actor: 'admin', action: 'endpoint.enable', patient_id: null, session_id: null, what: ['notification endpoint https://hooks.example/x'], source: 'unknown', outcome: 'not-found' },
      ]);
      expect(await handle.sql`select 1 from information_schema.tables where table_name = 'admin_actions'`).toHaveLength(0);
    } finally {
      await handle.close();
    }
  });
});
