import { count, isNotNull, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Database } from '#shared/db/client';
import { columnLabel, ENCRYPTED_TABLES, encryptedColumnsOf } from '#shared/db/encrypted-columns';

/** What a column holds: FieldCipher output (`v1.<keyId>.<…>`) or a keyed hash (`<keyId>.<hmac>`). */
export type StoredKind = 'encrypted' | 'hash';

/** Which dot-separated part of a stored value names its key (shared/crypto.ts). */
const KEY_PART: Record<StoredKind, number> = { encrypted: 2, hash: 1 };

/** The id of the key a stored value was written under, in SQL. */
const keyIdOf = (column: PgColumn, kind: StoredKind): SQL<string> => sql<string>`split_part(${column}, '.', ${sql.raw(String(KEY_PART[kind]))})`;

/** True in SQL for a value written under any key but `keyId` (NULL for a NULL value, so those are never picked). */
export const underAnotherKey = (column: PgColumn, kind: StoredKind, keyId: string): SQL =>
  sql`${column} not like ${kind === 'encrypted' ? `v1.${keyId}.%` : `${keyId}.%`}`;

/** How many values of one column are held under one key id. */
export interface KeyCount {
  /** `table.column`. */
  column: string;
  kind: StoredKind;
  keyId: string;
  values: number;
}

/** Every column of the registry with what it holds. */
export const REGISTERED_COLUMNS = ENCRYPTED_TABLES.flatMap((entry) => [
  ...encryptedColumnsOf(entry).map((column) => ({ entry, column, kind: 'encrypted' as const })),
  ...entry.hashes.map(({ column }) => ({ entry, column, kind: 'hash' as const })),
]);

/** How many values each key id holds, per registered column (a full scan of each: for a check, not a hot path). */
export async function countByKey(db: Database): Promise<KeyCount[]> {
  const counts: KeyCount[] = [];
  for (const { entry, column, kind } of REGISTERED_COLUMNS) {
    const keyId = keyIdOf(column, kind);
    const rows = await db.select({ keyId, values: count() }).from(entry.table).where(isNotNull(column)).groupBy(keyId).orderBy(keyId);
    counts.push(...rows.map((row) => ({ column: columnLabel(entry, column), kind, keyId: row.keyId, values: row.values })));
  }
  return counts;
}

/** The values held under a key that is not `primaryKeyId`: what a rewrap has left to do. */
export const remaining = (counts: KeyCount[], primaryKeyId: string) => counts.filter((c) => c.keyId !== primaryKeyId).reduce((sum, c) => sum + c.values, 0);

/**
 * Encrypted values under a key `keyIds` does not hold: no rewrap can read them. (A keyed hash under
 * such a key is no obstacle: it is computed again from its clear value.)
 */
export const undecryptable = (counts: KeyCount[], keyIds: string[]) => counts.filter((c) => c.kind === 'encrypted' && !keyIds.includes(c.keyId));

/** The census as a table for a terminal, with totals per key id, the first key marked. */
export function formatCensus(counts: KeyCount[], keyIds: string[]): string {
  const label = (keyId: string) => (keyId === keyIds[0] ? `${keyId} (first)` : keyIds.includes(keyId) ? keyId : `${keyId} (not configured)`);
  const width = Math.max(...counts.map((c) => c.column.length), 'column'.length);
  const lines = [`${'column'.padEnd(width)}  ${'key id'.padEnd(25)}  values`];
  for (const c of counts) lines.push(`${c.column.padEnd(width)}  ${label(c.keyId).padEnd(25)}  ${c.values.toLocaleString('en')}`);
  const totals = new Map<string, number>();
  for (const c of counts) totals.set(c.keyId, (totals.get(c.keyId) ?? 0) + c.values);
  for (const [keyId, values] of totals) lines.push(`${'total'.padEnd(width)}  ${label(keyId).padEnd(25)}  ${values.toLocaleString('en')}`);
  return lines.join('\n');
}
