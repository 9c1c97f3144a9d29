/**
 * The credentials of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235),
 * trimmed; undefined when the header is missing, of another scheme, or carries nothing. The one
 * reader of bearer credentials: the ingress's Vapi bearer auth, every admin scope and the relay.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return /^bearer\s+(.+)$/i.exec(header?.trim() ?? '')?.[1];
}
