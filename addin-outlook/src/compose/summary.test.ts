import { DEFAULT_POLICY } from '@attune/shared/policy';
import type { Policy } from '@attune/shared/policy';
import { describe, expect, it } from 'vitest';
import { evaluateDraft } from '../core/evaluate.ts';
import { summarize } from './summary.ts';

function draft(html: string, to = ['frontdesk@partner-clinic.example'], policy: Partial<Policy> = {}) {
  return summarize(
    evaluateDraft(
      { ...DEFAULT_POLICY, ...policy },
      { subject: 'Update', html, to, cc: [], bcc: [], attachmentNames: [] },
    ),
  );
}

const HEALTH_ONLY =
  '<p>Continue sertraline 50 mg for major depressive disorder and keep the sleep diary.</p>';
const PHI =
  '<p>Hi Jane Doe,</p><p>Continue sertraline 50 mg for major depressive disorder. DOB 03/14/1985.</p>';

describe('compose pane summary', () => {
  it('says health content without identifiers needs no encryption, never "PHI found", when the policy allows it', () => {
    const s = draft(HEALTH_ONLY);
    expect(s.heading).toBe('No PHI found');
    expect(s.status).toBe('Health content found, nothing identifying: no encryption required.');
    expect(s.status).not.toMatch(/PHI found|kind\(s\)/);
  });

  it('says PHI found and send securely when the policy encrypts, with a correctly pluralised count', () => {
    const s = draft(PHI, ['frontdesk@partner-clinic.example'], { mode: 'opt_out' });
    expect(s.heading).toBe('PHI found');
    expect(s.status).toMatch(/^PHI found \(\d+ kinds\): send securely\.$/);
    expect(s.verdict).toContain('must be sent securely');
  });

  it('recommends sending securely when the policy only warns', () => {
    const s = draft(PHI, ['frontdesk@partner-clinic.example'], { mode: 'opt_in' });
    expect(s.status).toMatch(/^PHI found \(\d+ kinds?\): sending securely is recommended\.$/);
  });

  it('says no encryption is required for PHI to internal recipients only', () => {
    const s = draft(PHI, ['colleague@practice.example'], { internalDomains: ['practice.example'] });
    expect(s.heading).toBe('PHI found');
    expect(s.status).toContain('every recipient internal: no encryption required');
  });

  it('tells the clinician to redact what the practice blocks', () => {
    const s = draft('<p>Diagnosis: major depressive disorder.</p>', undefined, { blockTypes: ['DIAGNOSIS'] });
    expect(s.statusKind).toBe('error');
    expect(s.status).toContain('Redact before sending');
  });

  it('says nothing was found in a plain message', () => {
    const s = draft('<p>See you at the team lunch on Friday.</p>', ['a@b.example']);
    expect(s).toMatchObject({ heading: 'No PHI found', status: 'Checked: no PHI found.' });
  });
});
