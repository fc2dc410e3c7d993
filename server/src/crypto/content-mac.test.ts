import { describe, expect, it } from 'vitest';
import { checkContentMac, contentMac, quarantineMarker } from './content-mac.ts';
import { generateMasterKey, parseMasterKey, type MasterKey } from './seal.ts';

function masterKey(): MasterKey {
  const r = parseMasterKey(generateMasterKey());
  if (!r.ok) throw new Error(r.reason);
  return r.masterKey;
}

describe('content MACs', () => {
  const mk = masterKey();
  const row = { id: 'm-1', practiceId: 'p-1', bodyCt: Buffer.from('ciphertext bytes') };
  const mac = contentMac(mk, 'messages', row);

  it('vouches for the row it was made for', () => {
    expect(mac).toMatch(/^cm1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    expect(checkContentMac(mk, 'messages', row, mac)).toEqual({ ok: true });
  });

  it('refuses other content, another row, practice or table, a flipped bit, and a missing MAC', () => {
    const bad = { ok: false, reason: 'content_mac_mismatch' };
    expect(checkContentMac(mk, 'messages', { ...row, bodyCt: Buffer.from('other bytes') }, mac)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', { ...row, id: 'm-2' }, mac)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', { ...row, practiceId: 'p-2' }, mac)).toEqual(bad);
    expect(checkContentMac(mk, 'replies', row, mac)).toEqual(bad);
    const flipped = Buffer.from(row.bodyCt);
    flipped[3] = flipped[3]! ^ 1;
    expect(checkContentMac(mk, 'messages', { ...row, bodyCt: flipped }, mac)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, `${mac.slice(0, -2)}AA`)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, 'junk')).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, null)).toEqual({ ok: false, reason: 'content_mac_missing' });
  });

  it('says when the MAC was made under another master key, and that key cannot make ours', () => {
    const other = masterKey();
    const theirs = contentMac(other, 'messages', row);
    expect(checkContentMac(mk, 'messages', row, theirs)).toEqual({
      ok: false,
      reason: 'content_mac_wrong_master_key',
    });
    // Relabelled with our key's id, it is still not ours.
    const relabelled = theirs.replace(other.id, mk.id);
    expect(checkContentMac(mk, 'messages', row, relabelled)).toEqual({
      ok: false,
      reason: 'content_mac_mismatch',
    });
  });

  it('tells a quarantine marker of this row and content from a forged, moved or relabelled one', () => {
    const marker = quarantineMarker(mk, 'messages', row);
    expect(marker).toMatch(/^cq1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    expect(checkContentMac(mk, 'messages', row, marker)).toEqual({
      ok: false,
      reason: 'content_quarantined',
    });
    const bad = { ok: false, reason: 'content_mac_mismatch' };
    // Another row's, other content's, or a MAC relabelled as a marker (and back): not valid.
    expect(checkContentMac(mk, 'messages', { ...row, id: 'm-2' }, marker)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', { ...row, bodyCt: Buffer.from('other') }, marker)).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, mac.replace(/^cm1/, 'cq1'))).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, marker.replace(/^cq1/, 'cm1'))).toEqual(bad);
    expect(checkContentMac(mk, 'messages', row, `cq1.${mk.id}.${'A'.repeat(43)}`)).toEqual(bad);
  });
});
