/**
 * The credentials of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235),
 * or undefined when the header is missing, empty or of another scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
