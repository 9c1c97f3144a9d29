import { getTableName } from 'drizzle-orm';
import { toSnakeCase } from 'drizzle-orm/casing';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { FieldCipher } from '../crypto.ts';
import { nameDobKey } from '../patient-identity.ts';
import {
  appointments,
  healthRecords,
  notificationOutbox,
  orders,
  patients,
  sessionEvents,
  toolCalls,
  vapiEvents,
  vapiMessages,
  vapiSessions,
} from './schema.ts';

/** Reads the clear value of one of the row's encrypted columns (null when the column is). */
export type ClearOf = (column: PgColumn) => string | null;

/** A keyed-hash column (`<keyId>.<hmac>`) and the clear value behind it. */
export interface KeyedHash {
  column: PgColumn;
  /**
   * The clear value, computed from the row's own encrypted columns; `caller-number` for a session's
   * caller hash, whose number is held nowhere but in the raw payloads of the call's events.
   */
  from: ((clear: ClearOf) => string | null) | 'caller-number';
}

/** A table holding FieldCipher output (`v1.<keyId>.<…>`) and the keyed hashes beside it. */
export interface EncryptedTable {
  table: PgTable;
  /** Its primary key, one column: batches walk it in order. */
  key: PgColumn;
  /** Encrypted columns whose clear value is text. */
  text: PgColumn[];
  /** Encrypted columns whose clear value is JSON. */
  json: PgColumn[];
  hashes: KeyedHash[];
}

/**
 * Every encrypted column and keyed hash of the schema, declared once: the key rewrap, the patient
 * export and the test that fails when a column commented "encrypted" in schema.ts is missing here
 * all read this list.
 */
export const ENCRYPTED_TABLES: readonly EncryptedTable[] = [
  {
    table: patients,
    key: patients.id,
    text: [patients.firstName, patients.lastName, patients.dateOfBirth, patients.phoneNumber],
    json: [],
    hashes: [
      { column: patients.phoneHash, from: (clear) => clear(patients.phoneNumber) },
      {
        column: patients.nameDobHash,
        from: (clear) => nameDobKey(`${clear(patients.firstName)} ${clear(patients.lastName)}`, clear(patients.dateOfBirth) ?? ''),
      },
    ],
  },
  {
    table: vapiSessions,
    key: vapiSessions.id,
    text: [vapiSessions.transcriptSummary, vapiSessions.recordingUrl],
    json: [vapiSessions.analysis],
    hashes: [{ column: vapiSessions.callerHash, from: 'caller-number' }],
  },
  { table: vapiMessages, key: vapiMessages.id, text: [vapiMessages.transcript], json: [], hashes: [] },
  { table: vapiEvents, key: vapiEvents.id, text: [vapiEvents.payload], json: [], hashes: [] },
  { table: sessionEvents, key: sessionEvents.id, text: [], json: [sessionEvents.data], hashes: [] },
  { table: notificationOutbox, key: notificationOutbox.id, text: [], json: [notificationOutbox.data], hashes: [] },
  { table: toolCalls, key: toolCalls.id, text: [toolCalls.result], json: [toolCalls.arguments], hashes: [] },
  { table: appointments, key: appointments.id, text: [appointments.reason], json: [], hashes: [] },
  { table: healthRecords, key: healthRecords.id, text: [], json: [healthRecords.data], hashes: [] },
  { table: orders, key: orders.id, text: [orders.description], json: [], hashes: [] },
];

/** A table's encrypted columns, text and JSON alike. */
export const encryptedColumnsOf = (entry: EncryptedTable): PgColumn[] => [...entry.text, ...entry.json];

/** A column's name in Postgres: the schema's `casing: 'snake_case'` applied to a name taken from its key. */
export const sqlName = (column: PgColumn): string => (column.keyAsName ? toSnakeCase(column.name) : column.name);

/** `table.column` as Postgres names them, for reports. */
export const columnLabel = (entry: EncryptedTable, column: PgColumn): string => `${getTableName(entry.table)}.${sqlName(column)}`;

/**
 * A row as selected from `table`, its encrypted columns decrypted (JSON ones parsed) and its keyed
 * hashes left out: what a reader of the data (the patient's export) is shown.
 */
export function decryptRow<T extends Record<string, unknown>>(cipher: FieldCipher, table: PgTable, row: T): Record<string, unknown> {
  const entry = ENCRYPTED_TABLES.find((candidate) => candidate.table === table);
  if (!entry) return row;
  const open = { ...row } as Record<string, unknown>;
  for (const column of entry.text) if (typeof row[column.name] === 'string') open[column.name] = cipher.decrypt(row[column.name] as string);
  for (const column of entry.json) if (typeof row[column.name] === 'string') open[column.name] = cipher.decryptJson(row[column.name] as string);
  for (const { column } of entry.hashes) delete open[column.name];
  return open;
}
