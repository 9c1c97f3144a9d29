import { createHash } from 'node:crypto';
import type { Identifier, Reference, Resource } from '@medplum/fhirtypes';

/** The kinds of record our ids name; each has an identifier system of its own. */
export type RecordKind = 'patient' | 'session' | 'message' | 'summary' | 'appointment' | 'health-record' | 'order' | 'audit-event';

/** Our id of a record as a FHIR identifier, which a FHIR server can match a conditional create on. */
export const identifierOf = (kind: RecordKind, id: string | number): Identifier => ({ system: `urn:vapi-relay:${kind}`, value: String(id) });

/**
 * The `urn:uuid:` a record's resource has in a Bundle: name-based (RFC 4122 version 5 layout, from
 * the record's kind and id), so the same record has the same fullUrl in every export and every
 * transaction, and resources refer to each other through it.
 */
export function fullUrlOf(kind: RecordKind, id: string | number): string {
  const hash = createHash('sha1').update(`vapi-relay/${kind}/${id}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A reference to a record's resource in the same Bundle. */
export const referenceTo = <T extends Resource>(kind: RecordKind, id: string | number): Reference<T> => ({ reference: fullUrlOf(kind, id) });

/** A resource with the fullUrl it has in a Bundle. */
export interface Entry<T extends Resource = Resource> {
  fullUrl: string;
  resource: T;
}

export const entryOf = <T extends Resource>(kind: RecordKind, id: string | number, resource: T): Entry<T> => ({ fullUrl: fullUrlOf(kind, id), resource });
