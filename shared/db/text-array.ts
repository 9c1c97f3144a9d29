import { sql, type Column, type SQL } from 'drizzle-orm';

/**
 * One `text[]` parameter, for `unnest(…)` over many rows in one statement whatever their number
 * (one prepared statement, not one per row count, and no limit on parameters). Every item goes as
 * text, cast in the query: postgres.js infers an array's type from its first item, which a date or
 * a boolean would get wrong.
 */
export const textArray = (values: (string | null)[]): SQL => sql`${sql.param(values)}::text[]`;

/** `column = any(values)`: `inArray` with one parameter, so one prepared statement whatever the number of values. */
export const anyOf = (column: Column, values: string[] | number[], type: 'text' | 'bigint' = 'text'): SQL =>
  sql`${column} = any(${textArray(values.map(String))}::${sql.raw(type)}[])`;
