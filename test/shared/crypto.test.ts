import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, FieldCipher, UnknownKeyError } from '#shared/crypto';
import { tampered } from '../helpers/tamper.ts';

const oldKey = randomBytes(32);
const newKey = randomBytes(32);

describe('FieldCipher', () => {
  it('round-trips text, with a fresh IV every time and no plaintext in the stored form', () => {
    const cipher = new FieldCipher([oldKey]);
    const a = cipher.encrypt('Allergic to penicillin');
    const b = cipher.encrypt('Allergic to penicillin');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(a).not.toContain('penicillin');
    expect(cipher.decrypt(a)).toBe('Allergic to penicillin');
    expect(cipher.decryptJson(cipher.encryptJson({ dose: '10 mg' }))).toEqual({ dose: '10 mg' });
  });

  it('still reads values written under an old key after rotation, and writes under the new one', () => {
    const before = new FieldCipher([oldKey]);
    const stored = before.encrypt('Metformin 500 mg');
    const rotated = new FieldCipher([newKey, oldKey]);
    expect(rotated.decrypt(stored)).toBe('Metformin 500 mg');
    expect(rotated.encrypt('x').split('.')[1]).toBe(rotated.primaryKeyId);
    expect(rotated.primaryKeyId).not.toBe(before.primaryKeyId);
  });

  it('refuses values under an unknown key, tampered bytes and non-encrypted text', () => {
    const stored = new FieldCipher([oldKey]).encrypt('secret');
    expect(() => new FieldCipher([newKey]).decrypt(stored)).toThrow(DecryptionError);
    expect(() => new FieldCipher([newKey]).decrypt(stored)).toThrow(UnknownKeyError);
    expect(() => new FieldCipher([oldKey]).decrypt(tampered(stored))).toThrow(DecryptionError);
    expect(() => new FieldCipher([oldKey]).decrypt('plain text')).toThrow(DecryptionError);
  });

  it('finds equal values through keyed hashes under every configured key', () => {
    const before = new FieldCipher([oldKey]);
    const stored = before.lookupHash('+15550100001');
    expect(stored).not.toContain('5550100001');
    expect(before.lookupHash('+15550100001')).toBe(stored);
    expect(before.lookupHash('+15550100002')).not.toBe(stored);
    expect(new FieldCipher([newKey, oldKey]).lookupHashes('+15550100001')).toContain(stored);
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => new FieldCipher([randomBytes(16)])).toThrow(/32 bytes/);
    expect(() => new FieldCipher([])).toThrow();
  });

  it('binds a value to additional data: it opens only with the same data, and never passes for an unbound one', () => {
    const cipher = new FieldCipher([oldKey]);
    const bound = cipher.encrypt('Allergic to penicillin', 'job vapi-events e1');
    expect(bound).toMatch(/^v1\.[0-9a-f]{8}\+ad\./);
    expect(cipher.isBound(bound)).toBe(true);
    expect(cipher.decrypt(bound, 'job vapi-events e1')).toBe('Allergic to penicillin');
    expect(() => cipher.decrypt(bound, 'job vapi-events e2')).toThrow('failed authentication');
    expect(() => cipher.decrypt(bound)).toThrow(DecryptionError);
    // Dropping the marker does not turn it into an unbound value, nor adding one an unbound value into a bound one.
    expect(() => cipher.decrypt(bound.replace('+ad.', '.'))).toThrow('failed authentication');
    const unbound = cipher.encrypt('Allergic to penicillin');
    expect(cipher.isBound(unbound)).toBe(false);
    expect(() => cipher.decrypt(unbound, 'job vapi-events e1')).toThrow(DecryptionError);
    expect(() => cipher.decrypt(unbound.replace(/^(v1\.[0-9a-f]{8})\./, '$1+ad.'), 'job vapi-events e1')).toThrow('failed authentication');
    expect(() => cipher.decrypt(tampered(bound), 'job vapi-events e1')).toThrow('failed authentication');
  });

  it('reads a bound value under an old key after rotation, and under an unknown key says so (which heals)', () => {
    const bound = new FieldCipher([oldKey]).encryptJson({ dose: '10 mg' }, 'ad');
    expect(new FieldCipher([newKey, oldKey]).decryptJson(bound, 'ad')).toEqual({ dose: '10 mg' });
    expect(() => new FieldCipher([newKey]).decrypt(bound, 'ad')).toThrow(UnknownKeyError);
  });
});
