import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { and, asc, gt, or, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { DecryptionError, UnknownKeyError, type FieldCipher } from '#shared/crypto';
import type { Database } from '#shared/db/client';
import { columnLabel, ENCRYPTED_TABLES, encryptedColumnsOf, sqlName, type EncryptedTable } from '#shared/db/encrypted-columns';
import { vapiEvents } from '#shared/db/schema';
import { readEnvelope } from '#shared/vapi/envelope';
import { callerIdentity } from '#shared/vapi/read';
import { underAnotherKey } from './census.ts';

/** Rows read and written per statement: small enough that no statement holds its row locks for long. */
const DEFAULT_BATCH_SIZE = 200;
/** Sweeps over a table while rows were busy (locked by a writer, or changed between read and write). */
const MAX_PASSES = 20;
/** Pause before sweeping again for busy rows: a writer's transaction lasts milliseconds. */
const BUSY_PAUSE_MS = 200;
/** Payloads read per session to find the caller's number: every event of a call carries it, the first few suffice. */
const PAYLOADS_PER_SESSION = 3;

/** A value is encrypted under a key this process was not given: the rewrap stops, naming it. */
export class MissingKeyError extends Error {
  override name = 'MissingKeyError';
}

export interface RewrapOptions {
  batchSize?: number;
  /** Told after each batch, with how many values this run has rewritten so far. */
  onProgress?: (rewritten: number) => void;
}

export interface RewrapReport {
  /** Values written again under the first key, per `table.column`. */
  rewritten: Record<string, number>;
  /** Session caller hashes with no clear number left to compute them from (their payloads are gone): set to NULL. */
  dropped: number;
  /** Values that did not authenticate (tampered or corrupt), by `table.column` and row key: left as they are. */
  unreadable: { column: string; key: string }[];
  /** Values whose row stayed locked or kept changing through every sweep: a later run takes them. */
  busy: number;
}

type Row = Record<string, unknown> & { key: string | number };
/** One row's new values (`null` drops a hash), by the index of the column in the table's list, and the md5 of every value read. */
interface Change {
  k: string;
  o: Record<string, string | null>;
  n: Record<string, string | null>;
}

/** Decrypts a stored value; a key not given stops the run, naming where the value is. */
function open(cipher: FieldCipher, stored: string, where: string): string {
  try {
    return cipher.decrypt(stored);
  } catch (error) {
    if (error instanceof UnknownKeyError)
      throw new MissingKeyError(`${where} is encrypted under key id ${stored.split('.')[1]}, which DATA_ENCRYPTION_KEY does not hold`);
    throw error;
  }
}

const md5 = (value: unknown) => (typeof value === 'string' ? createHash('md5').update(value).digest('hex') : null);

/** The caller's number of each session, from the first raw payloads of its call that carry one. */
async function callerNumbers(db: Database, cipher: FieldCipher, sessionIds: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (sessionIds.length === 0) return found;
  const rows = await db.execute<{ session_id: string; payload: string }>(sql`
    select s.id as session_id, e.payload from jsonb_array_elements_text(${JSON.stringify(sessionIds)}::jsonb) as s(id)
    cross join lateral (
      select ${vapiEvents.payload} as payload from ${vapiEvents} where ${vapiEvents.sessionId} = s.id and ${vapiEvents.payload} is not null order by ${vapiEvents.occurredAt} limit ${PAYLOADS_PER_SESSION}
    ) e`);
  for (const row of rows) {
    if (found.has(row.session_id)) continue;
    let body: unknown;
    try {
      body = JSON.parse(open(cipher, row.payload, `a vapi_events.payload of session ${row.session_id}`));
    } catch (error) {
      if (error instanceof MissingKeyError) throw error;
      continue; // a payload that does not open is no source; the next one may be
    }
    const event = readEnvelope(body);
    const number = event && callerIdentity(event.message).callerNumber;
    if (number) found.set(row.session_id, number);
  }
  return found;
}

/**
 * Re-encrypts every value of the registry (shared/db/encrypted-columns.ts) written under a key
 * other than the first, and recomputes the keyed hashes beside them, table by table, while the
 * system runs:
 * - a batch is a keyset page over the primary key of rows holding such a value (read without locks);
 * - its new values are written in one statement that locks only the rows it can lock at once
 *   (`SKIP LOCKED`: it never waits for a worker, nor makes one wait beyond that statement) and
 *   writes a row only if every value read is still what it was (compare-and-set on their md5): a
 *   row changed meanwhile holds a value written under the first key already, or is read again;
 * - rows skipped that way are taken in another sweep.
 * Nothing is remembered between runs: a run killed half-way leaves its committed batches done, and
 * the next finds only what is left. Throws MissingKeyError when a value is under a key not given.
 */
export async function rewrapAll(db: Database, cipher: FieldCipher, options: RewrapOptions = {}): Promise<RewrapReport> {
  const report: RewrapReport = { rewritten: {}, dropped: 0, unreadable: [], busy: 0 };
  let total = 0;
  const tally = (label: string, n: number) => {
    report.rewritten[label] = (report.rewritten[label] ?? 0) + n;
    total += n;
  };
  for (const entry of ENCRYPTED_TABLES) {
    await rewrapTable(db, cipher, entry, options.batchSize ?? DEFAULT_BATCH_SIZE, report, (label, n) => {
      tally(label, n);
      options.onProgress?.(total);
    });
  }
  return report;
}

async function rewrapTable(
  db: Database,
  cipher: FieldCipher,
  entry: EncryptedTable,
  batchSize: number,
  report: RewrapReport,
  tally: (label: string, n: number) => void,
): Promise<void> {
  const primary = cipher.primaryKeyId;
  const encrypted = encryptedColumnsOf(entry);
  const columns = [...encrypted, ...entry.hashes.map((hash) => hash.column)];
  const stale = or(...encrypted.map((c) => underAnotherKey(c, 'encrypted', primary)), ...entry.hashes.map((h) => underAnotherKey(h.column, 'hash', primary)))!;
  const fields = Object.fromEntries([['key', entry.key], ...columns.map((column, i) => [`c${i}`, column])]) as Record<string, PgColumn>;
  const unreadable = new Set<string>();
  // Rows whose caller hash is to be computed again, from their call's payloads (a session's only source).
  const callerIndex = entry.hashes.findIndex((hash) => hash.from === 'caller-number');
  const needsCaller = (row: Row) => {
    const stored = callerIndex < 0 ? null : row[`c${encrypted.length + callerIndex}`];
    return typeof stored === 'string' && !stored.startsWith(`${primary}.`);
  };

  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let after: string | number | undefined;
    let busy = 0;
    for (;;) {
      const page: SQL[] = [stale];
      if (after !== undefined) page.push(gt(entry.key, after));
      const rows = (await db
        .select(fields)
        .from(entry.table)
        .where(and(...page))
        .orderBy(asc(entry.key))
        .limit(batchSize)) as Row[];
      if (rows.length === 0) break;
      after = rows.at(-1)!.key;
      const callers = await callerNumbers(
        db,
        cipher,
        rows.filter(needsCaller).map((row) => String(row.key)),
      );

      const changes: Change[] = [];
      for (const row of rows) {
        const change = planRow(cipher, entry, columns, row, callers, (column) => {
          const label = `${columnLabel(entry, column)} ${row.key}`;
          if (!unreadable.has(label)) report.unreadable.push({ column: columnLabel(entry, column), key: String(row.key) });
          unreadable.add(label);
        });
        if (change) changes.push(change);
      }
      const written = new Set(await writeChanges(db, entry, columns, changes));
      busy += changes.length - written.size;
      for (const change of changes.filter((c) => written.has(c.k))) {
        for (const index of Object.keys(change.n)) {
          const column = columns[Number(index)]!;
          tally(columnLabel(entry, column), 1);
          if (change.n[index] === null) report.dropped += 1;
        }
      }
    }
    if (busy === 0) return;
    if (pass === MAX_PASSES - 1) report.busy += busy;
    else await sleep(BUSY_PAUSE_MS);
  }
}

/** The new values of one row, or null when it has nothing to change or a value that does not open (told to `onUnreadable`). */
function planRow(
  cipher: FieldCipher,
  entry: EncryptedTable,
  columns: PgColumn[],
  row: Row,
  callers: Map<string, string>,
  onUnreadable: (column: PgColumn) => void,
): Change | null {
  const primary = cipher.primaryKeyId;
  const clear = new Map<PgColumn, string | null>();
  const n: Record<string, string | null> = {};
  const encrypted = encryptedColumnsOf(entry);
  for (const [i, column] of encrypted.entries()) {
    const stored = row[`c${i}`] as string | null;
    if (stored === null) {
      clear.set(column, null);
      continue;
    }
    try {
      clear.set(column, open(cipher, stored, `${columnLabel(entry, column)} of row ${row.key}`));
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      onUnreadable(column);
      return null;
    }
    if (!stored.startsWith(`v1.${primary}.`)) n[i] = cipher.encrypt(clear.get(column)!);
  }
  for (const [j, hash] of entry.hashes.entries()) {
    const i = encrypted.length + j;
    const stored = row[`c${i}`] as string | null;
    if (stored === null || stored.startsWith(`${primary}.`)) continue;
    const value = hash.from === 'caller-number' ? (callers.get(String(row.key)) ?? null) : hash.from((column) => clear.get(column) ?? null);
    n[i] = value === null ? null : cipher.lookupHash(value);
  }
  if (Object.keys(n).length === 0) return null;
  return { k: String(row.key), o: Object.fromEntries(columns.map((_, i) => [i, md5(row[`c${i}`])])), n };
}

/** Writes the changes of rows it can lock at once and that still hold what was read; returns the keys written. */
async function writeChanges(db: Database, entry: EncryptedTable, columns: PgColumn[], changes: Change[]): Promise<string[]> {
  if (changes.length === 0) return [];
  const keyType = sql.raw(entry.key.getSQLType() === 'bigserial' ? 'bigint' : entry.key.getSQLType());
  const sets = columns.map((column, i) => sql`${sql.identifier(sqlName(column))} = case when v.n ? ${String(i)} then v.n ->> ${String(i)} else ${column} end`);
  const unchanged = columns.map((column, i) => sql`md5(${column}) is not distinct from v.o ->> ${String(i)}`);
  const written = await db.execute<{ key: string }>(sql`
    with v as (select * from jsonb_to_recordset(${JSON.stringify(changes)}::jsonb) as v(k text, o jsonb, n jsonb)),
    lockable as (select ${entry.key} as k from ${entry.table} where ${entry.key} in (select v.k::${keyType} from v) for update skip locked)
    update ${entry.table} set ${sql.join(sets, sql`, `)}
    from v
    where ${entry.key} = v.k::${keyType} and ${entry.key} in (select k from lockable) and ${sql.join(unchanged, sql` and `)}
    returning ${entry.key}::text as key`);
  return written.map((row) => row.key);
}
