import { DecryptionError, type FieldCipher } from '#shared/crypto';

/**
 * Where a page of a keyset-ordered list stopped: the last row's sort time, to the microsecond as
 * Postgres keeps it (a JavaScript Date would round it and skip or repeat rows), and its id, which
 * breaks ties between rows of the same time.
 */
export interface Keyset {
  /** ISO-8601 with microseconds, UTC. */
  at: string;
  id: string;
}

/** Why a cursor was refused: not one this relay gave out for this list. */
export class CursorError extends Error {
  override name = 'CursorError';
}

/** Longest cursor accepted: a sealed keyset with a 200-character id is about 400. */
export const MAX_CURSOR_LENGTH = 1_000;

const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * Seals a keyset into an opaque cursor, bound to the list it pages (`scope`: whose sessions, or which
 * session's messages) with AES-GCM's additional data: the client can neither read it, change it, nor
 * use it on another list. Sealed under the data key, so it outlives a restart and works on any relay.
 */
export function sealCursor(cipher: FieldCipher, scope: string, keyset: Keyset): string {
  return cipher.encryptJson([keyset.at, keyset.id], `history-cursor:${scope}`);
}

/** Opens a cursor sealed for `scope`, or throws CursorError. */
export function openCursor(cipher: FieldCipher, scope: string, cursor: string): Keyset {
  let value: unknown;
  try {
    value = cipher.decryptJson(cursor, `history-cursor:${scope}`);
  } catch (error) {
    if (error instanceof DecryptionError || error instanceof SyntaxError) throw new CursorError('cursor is not one this list gave out');
    throw error;
  }
  if (!Array.isArray(value) || value.length !== 2) throw new CursorError('cursor is not one this list gave out');
  const [at, id] = value as unknown[];
  if (typeof at !== 'string' || !AT.test(at) || typeof id !== 'string') throw new CursorError('cursor is not one this list gave out');
  return { at, id };
}
