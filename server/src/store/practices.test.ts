import { describe, expect, it } from 'vitest';
import { normalizeDomain, normalizeTenantId } from './practices.ts';

describe('normalizeDomain (what `attune practice` accepts as a practice domain)', () => {
  it.each([
    ['calm-clinic.org', 'calm-clinic.org'],
    ['  Calm.Example.ORG ', 'calm.example.org'],
    ['calm.example.org.', 'calm.example.org'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['mail.xn--bcher-kva.example', 'mail.xn--bcher-kva.example'],
  ])('stores %j as %j', (input, stored) => {
    expect(normalizeDomain(input)).toBe(stored);
  });

  it.each([
    '',
    'localhost',
    'not a domain',
    'dr@calm.example.org',
    '*.calm.example.org',
    '10.0.0.1',
    'calm.example.org:25',
    '-calm.example.org',
    'calm-.example.org',
    'calm..example.org',
    'https://calm.example.org',
    `${'a'.repeat(64)}.example.org`,
    `${'a.'.repeat(127)}org`,
  ])('refuses %j', (input) => {
    expect(normalizeDomain(input)).toBeNull();
  });
});

describe('normalizeTenantId', () => {
  it('takes a GUID in any case and stores it in lower case; refuses anything else', () => {
    expect(normalizeTenantId('0B5A3C1E-7D2F-4E8A-9C6B-1F2E3D4C5B6A')).toBe(
      '0b5a3c1e-7d2f-4e8a-9c6b-1f2e3d4c5b6a',
    );
    expect(normalizeTenantId('contoso.onmicrosoft.com')).toBeNull();
    expect(normalizeTenantId('0b5a3c1e7d2f4e8a9c6b1f2e3d4c5b6a')).toBeNull();
  });
});
