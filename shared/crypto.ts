import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Marks the id of the key a value bound to additional data is encrypted under. */
const BOUND = '+ad';

interface Key {
  id: string;
  encryption: Buffer;
  /** For values bound to additional data: a key of their own, so no other value can pass for one. */
  binding: Buffer;
  lookup: Buffer;
}

/** The stored value could not be decrypted: wrong format or tampered bytes. */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

/** The value was encrypted under a key this process does not have (yet: a rotation half rolled out). */
export class UnknownKeyError extends DecryptionError {
  override name = 'UnknownKeyError';
}

/**
 * Application-level encryption for health data columns (AES-256-GCM).
 *
 * Stored form: `v1.<keyId>.<base64url(iv | tag | ciphertext)>`. The key id lets several keys
 * coexist: the first configured key encrypts, every configured key decrypts, so keys rotate by
 * prepending a new one and re-encrypting at leisure. Equality look-ups use `lookupHashes`, a keyed
 * HMAC per key, so a phone number can be found without storing it in clear.
 *
 * A value can be bound to additional data (AES-GCM's AAD: what it is and where it belongs, kept in
 * clear beside it): it then opens only with the same data. It is encrypted under a key derived for
 * that use and stored under that key's id, `<keyId>+ad`, so an unbound value never passes for a
 * bound one. A version that predates binding reads that id as a key it does not have yet, which it
 * retries instead of discarding: a fleet half upgraded heals once the rollout ends.
 */
export class FieldCipher {
  readonly #keys: Key[];
  readonly #byId: Map<string, Key>;

  constructor(rawKeys: readonly Buffer[]) {
    if (rawKeys.length === 0) throw new Error('FieldCipher needs at least one key');
    this.#keys = rawKeys.map((raw) => {
      if (raw.length !== 32) throw new Error('FieldCipher keys must be 32 bytes');
      return {
        id: createHash('sha256').update(raw).digest('hex').slice(0, 8),
        encryption: Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'vapi-relay field encryption', 32)),
        binding: Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'vapi-relay bound encryption', 32)),
        lookup: Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'vapi-relay lookup hash', 32)),
      };
    });
    this.#byId = new Map(this.#keys.map((key) => [key.id, key]));
  }

  /** Id of the key new values are encrypted with. */
  get primaryKeyId(): string {
    return this.#keys[0]!.id;
  }

  /** Encrypts under the primary key; with `additionalData`, bound to it (see the class comment). */
  encrypt(plaintext: string, additionalData?: string): string {
    const key = this.#keys[0]!;
    const bound = additionalData !== undefined;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', bound ? key.binding : key.encryption, iv);
    if (bound) cipher.setAAD(Buffer.from(additionalData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return `${VERSION}.${key.id}${bound ? BOUND : ''}.${packed}`;
  }

  /**
   * Decrypts a value; one bound to additional data needs exactly the data it was bound to, and one
   * bound to none opens only without. Throws UnknownKeyError for a key not configured, and
   * DecryptionError for everything else that does not authenticate.
   */
  decrypt(stored: string, additionalData?: string): string {
    const [version, keyRef, packed] = stored.split('.');
    if (version !== VERSION || !keyRef || packed === undefined) throw new DecryptionError('Not an encrypted value');
    const bound = keyRef.endsWith(BOUND);
    const key = this.#byId.get(bound ? keyRef.slice(0, -BOUND.length) : keyRef);
    if (!key) throw new UnknownKeyError(`No configured key has id ${keyRef}`);
    if (bound !== (additionalData !== undefined)) {
      throw new DecryptionError(bound ? 'The value is bound to additional data, and none was given' : 'The value is not bound to additional data');
    }
    const bytes = Buffer.from(packed, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('Encrypted value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', bound ? key.binding : key.encryption, bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    if (additionalData !== undefined) decipher.setAAD(Buffer.from(additionalData, 'utf8'));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptionError('Encrypted value failed authentication');
    }
  }

  /** Whether a stored value was bound to additional data when it was encrypted (it says so in clear). */
  isBound(stored: string): boolean {
    return stored.split('.')[1]?.endsWith(BOUND) ?? false;
  }

  encryptJson(value: unknown, additionalData?: string): string {
    return this.encrypt(JSON.stringify(value), additionalData);
  }

  decryptJson<T = unknown>(stored: string, additionalData?: string): T {
    return JSON.parse(this.decrypt(stored, additionalData)) as T;
  }

  /** Keyed hash under the primary key, to store beside an encrypted value that must be searchable. */
  lookupHash(value: string): string {
    return this.#hash(this.#keys[0]!, value);
  }

  /** The value's keyed hash under every configured key: query with `IN (…)` so rotation keeps look-ups working. */
  lookupHashes(value: string): string[] {
    return this.#keys.map((key) => this.#hash(key, value));
  }

  #hash(key: Key, value: string): string {
    return `${key.id}.${createHmac('sha256', key.lookup).update(value).digest('base64url')}`;
  }
}
