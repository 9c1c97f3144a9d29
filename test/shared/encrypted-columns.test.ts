import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { toSnakeCase } from 'drizzle-orm/casing';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { columnLabel, ENCRYPTED_TABLES, encryptedColumnsOf, type EncryptedTable } from '#shared/db/encrypted-columns';

const SCHEMA = readFileSync(resolve(import.meta.dirname, '../../shared/db/schema.ts'), 'utf8');

/** `table.column` of every column schema.ts comments with `comment`, read from the source as a reviewer reads it. */
function commentedColumns(comment: RegExp): string[] {
  return SCHEMA.split('pgTable(')
    .slice(1)
    .flatMap((definition) => {
      const table = /^\s*'([a-z_]+)'/.exec(definition)![1];
      return [...definition.matchAll(/^\s*(\w+): .*\/\/ (.*)$/gm)].filter((line) => comment.test(line[2]!)).map((line) => `${table}.${toSnakeCase(line[1]!)}`);
    })
    .sort();
}

const registered = (pick: (entry: EncryptedTable) => PgColumn[]) =>
  ENCRYPTED_TABLES.flatMap((entry) => pick(entry).map((column) => columnLabel(entry, column))).sort();

describe('the registry of encrypted columns', () => {
  it('holds every column schema.ts comments as encrypted, and no other', () => {
    const commented = commentedColumns(/^encrypted/);
    expect(commented).toContain('vapi_messages.transcript');
    expect(registered(encryptedColumnsOf)).toEqual(commented);
  });

  it('holds every keyed-hash column, and no other', () => {
    const commented = commentedColumns(/^keyed hash/);
    expect(commented).toEqual(['patients.name_dob_hash', 'patients.phone_hash', 'vapi_sessions.caller_hash']);
    expect(registered((entry) => entry.hashes.map((hash) => hash.column))).toEqual(commented);
  });
});
