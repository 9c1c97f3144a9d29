import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Entry } from './ids.ts';

/** Resources gathered for a reader (an export), as a Bundle of type `collection`. */
export const collectionBundle = (entries: Entry[], timestamp = new Date()): Bundle<Resource> => ({
  resourceType: 'Bundle',
  type: 'collection',
  timestamp: timestamp.toISOString(),
  entry: entries,
});

/** An entry of a transaction: created unless the server already holds a resource matching `ifNoneExist`. */
export interface ConditionalEntry extends Entry {
  /** A search query without the type (`identifier=system|value`), FHIR's conditional create. */
  ifNoneExist: string;
}

/**
 * Resources to create on a FHIR server as one `transaction` Bundle (all or nothing), each a
 * conditional create: a Bundle sent again creates nothing twice. Entries refer to each other by
 * their `urn:uuid:` fullUrls, which the server rewrites to the ids it assigns or finds.
 */
export const transactionBundle = (entries: ConditionalEntry[], timestamp = new Date()): Bundle<Resource> => ({
  resourceType: 'Bundle',
  type: 'transaction',
  timestamp: timestamp.toISOString(),
  entry: entries.map(({ fullUrl, resource, ifNoneExist }) => ({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist } })),
});
