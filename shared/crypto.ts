import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  id: string;
  encryption: Buffer;
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
        lookup: Buffer.from(hkdfSync('sha256', raw, Buffer.alloc(0), 'vapi-relay lookup hash', 32)),
      };
    });
    this.#byId = new Map(this.#keys.map((key) => [key.id, key]));
  }

  /** Id of the key new values are encrypted with. */
  get primaryKeyId(): string {
    return this.#keys[0]!.id;
  }

  encrypt(plaintext: string): string {
    const key = this.#keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.encryption, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return `${VERSION}.${key.id}.${packed}`;
  }

  decrypt(stored: string): string {
    const [version, keyId, packed] = stored.split('.');
    if (version !== VERSION || !keyId || packed === undefined) throw new DecryptionError('Not an encrypted value');
    const key = this.#byId.get(keyId);
    if (!key) throw new UnknownKeyError(`No configured key has id ${keyId}`);
    const bytes = Buffer.from(packed, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('Encrypted value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key.encryption, bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptionError('Encrypted value failed authentication');
    }
  }

  encryptJson(value: unknown): string {
    return this.encrypt(JSON.stringify(value));
  }

  decryptJson<T = unknown>(stored: string): T {
    return JSON.parse(this.decrypt(stored)) as T;
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
