/** The same FieldCipher output with its last byte flipped: it must fail authentication. */
export function tampered(stored: string): string {
  const [version, keyId, packed] = stored.split('.');
  const bytes = Buffer.from(packed!, 'base64url');
  bytes[bytes.length - 1]! ^= 1;
  return `${version}.${keyId}.${bytes.toString('base64url')}`;
}
