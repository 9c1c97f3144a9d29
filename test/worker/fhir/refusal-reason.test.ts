import { describe, expect, it } from 'vitest';
import { refusalReason } from '../../../services/worker/lib/fhir/refusal-reason.ts';

const outcome = (...issue: object[]) => JSON.stringify({ resourceType: 'OperationOutcome', issue });

describe('refusalReason', () => {
  it("says each error issue's code and diagnostics, values the server quoted blanked", () => {
    expect(refusalReason(outcome({ severity: 'error', code: 'invalid', diagnostics: 'Patient.birthDate: "1984-03-03" is not a date' }))).toBe(
      'invalid: Patient.birthDate: "…" is not a date',
    );
    expect(
      refusalReason(
        outcome(
          { severity: 'warning', code: 'informational', diagnostics: 'ignored' },
          { severity: 'fatal', code: 'security', details: { text: "Token 'abc' expired" } },
        ),
      ),
    ).toBe('security: Token "…" expired');
  });

  it('is at most 300 characters', () => {
    expect(refusalReason(outcome({ severity: 'error', code: 'processing', diagnostics: 'x'.repeat(1_000) }))!.length).toBe(300);
  });

  it('is null for anything but an OperationOutcome that says something', () => {
    expect(refusalReason('<html>Bad Request</html>')).toBeNull();
    expect(refusalReason(JSON.stringify({ resourceType: 'Bundle' }))).toBeNull();
    expect(refusalReason(outcome({ severity: 'information', code: 'informational' }))).toBeNull();
    expect(refusalReason('null')).toBeNull();
  });
});
