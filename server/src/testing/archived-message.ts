// For chain and checkpoint tests: a stored message with its content MAC and its archive entry, as a
// send writes them. The checkpoint writer signs an archive stretch only when each message entry has
// its row and the master key vouches for it (audit/checkpoint-writer.ts).
import { appendArchive } from '../archive/index.ts';
import { contentMac, type MasterKey } from '../crypto/index.ts';
import { ensureClinician } from '../store/clinicians.ts';
import { newId, nowIso, type Db } from '../store/index.ts';

export async function archiveStoredMessage(
  db: Db,
  masterKey: MasterKey,
  practiceId: string,
  ciphertext: Buffer,
  id: string = newId(),
): Promise<{ id: string; seq: number }> {
  const at = nowIso();
  const clinician = await ensureClinician(db, practiceId, 'archive.fixture@clinicians.test', at);
  return db.transaction().execute(async (tx) => {
    await tx
      .insertInto('messages')
      .values({
        id,
        practice_id: practiceId,
        clinician_id: clinician.id,
        subject_ct: null,
        body_ct: ciphertext,
        body_mac: contentMac(masterKey, 'messages', { id, practiceId, bodyCt: ciphertext }),
        decision: 'encrypt',
        reasons: '[]',
        topics: '[]',
        check_in: 0,
        send_at: null,
        expires_at: null,
        revoked_at: null,
        in_reply_to: null,
        created_at: at,
      })
      .execute();
    const entry = await appendArchive(tx, { practiceId, kind: 'message', refId: id, ciphertext });
    return { id, seq: entry.seq };
  });
}
