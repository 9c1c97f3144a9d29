import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { CursorError, openCursor, sealCursor } from '../../services/relay/lib/history-cursor.ts';

const cipher = new FieldCipher([randomBytes(32)]);
const keyset = { at: '2026-11-20T09:00:00.123456Z', id: 'call-1' };

describe('history cursors', () => {
  it('open to the keyset they sealed, to the microsecond, and show nothing of it', () => {
    const cursor = sealCursor(cipher, 'sessions:pat-1:', keyset);
    expect(cursor).not.toContain('call-1');
    expect(cursor).not.toContain('2026');
    expect(openCursor(cipher, 'sessions:pat-1:', cursor)).toEqual(keyset);
  });

  it('refuse another list, another key, a changed byte and made-up values', () => {
    const cursor = sealCursor(cipher, 'sessions:pat-1:', keyset);
    // A byte of the ciphertext changed (not the last character: its low bits are padding that decodes the same).
    const at = cursor.length - 8;
    const changed = `${cursor.slice(0, at)}${cursor[at] === 'A' ? 'B' : 'A'}${cursor.slice(at + 1)}`;
    const otherKey = sealCursor(new FieldCipher([randomBytes(32)]), 'sessions:pat-1:', keyset);
    const unbound = cipher.encryptJson([keyset.at, keyset.id]);
    const wrongShape = sealCursor(cipher, 'sessions:pat-1:', { at: 'yesterday', id: 'x' });
    for (const bad of [changed, otherKey, unbound, wrongShape, '', 'garbage', 'v1.x.y']) {
      expect(() => openCursor(cipher, 'sessions:pat-1:', bad), bad).toThrow(CursorError);
    }
    expect(() => openCursor(cipher, 'sessions:pat-2:', cursor)).toThrow(CursorError);
    expect(() => openCursor(cipher, 'messages:call-1', cursor)).toThrow(CursorError);
  });
});
