import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Entry } from './ids.ts';

/** Resources gathered for a reader (an export), as a Bundle of type `collection`. */
export const collectionBundle = (entries: Entry[], timestamp = new Date()): Bundle<Resource> => ({
  resourceType: 'Bundle',
  type: 'collection',
  timestamp: timestamp.toISOString(),
  entry: entries,
});
