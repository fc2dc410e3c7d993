// A stored message or reply the master key does not vouch for stops its practice's archive
// checkpoints and is refused at every read, until an admin decides: bind its MAC (checked out of band,
// and only when it is its archive entry's content) or quarantine it (reads say so, checkpoints sign
// past it and name it). Neither path may let someone who can write the database but has not the
// master key get a forged row bound.
import { CompiledQuery, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendMessageResponseSchema } from '@attune/shared/api';
import { AUDIT, verifyChains, writeCheckpoints } from '../audit/index.ts';
import { quarantinedRowsQuery } from '../audit/checkpoint-writer.ts';
import { practiceSigner } from '../checkpoints.ts';
import { quarantineMarker } from '../crypto/index.ts';
import { acceptReply, deliveryFor } from '../delivery/index.ts';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { backfillContentMacs } from '../store/content-macs.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { FORGED_MESSAGE, forgeBodyCt, rewriteArchived } from '../testing/tamper.ts';
import { buildExport } from './export.ts';
import { decideContent, listUnvouched } from './unvouched-content.ts';

const ADMIN = { type: 'cli' as const, id: 'it-admin' };

describe.each(dialectsUnderTest())(
  'deciding about content the master key does not vouch for, on %s',
  (dialect) => {
    let t: TestApp;
    let tok: string;

    beforeEach(async () => {
      t = await createTestApp(dialect);
      tok = await t.token('dr.a@a.example.org');
    });
    afterEach(async () => {
      await t?.cleanup();
    });

    const masterKey = () => deliveryFor(t.deps).services.masterKey;
    const db = () => t.store.db;
    const checkpoint = () =>
      writeCheckpoints(db(), practiceSigner(db(), masterKey(), t.practiceA), { masterKey: masterKey() });
    const archiveRun = async () => {
      const run = await checkpoint();
      return {
        written: run.written.filter((w) => w.chain.startsWith('archive:')),
        refused: run.refused.filter((b) => b.chain.startsWith('archive:')),
      };
    };
    const send = async (text: string) => {
      const r = await t.app.request('/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify({ to: ['pat.one@patients.example'], text, delivery: 'client' }),
      });
      expect(r.status).toBe(202);
      const s = SendMessageResponseSchema.parse(await r.json());
      return { id: s.id, token: /\/m\/([A-Za-z0-9_-]{43})/.exec(s.notice.text)![1]! };
    };
    const open = async (token: string) => {
      const r = await t.app.request(`/m/${token}`);
      return { status: r.status, html: await r.text() };
    };
    const seqOf = async (refId: string) =>
      (
        await db()
          .selectFrom('archive_entries')
          .select('seq')
          .where('ref_id', '=', refId)
          .executeTakeFirstOrThrow()
      ).seq;
    /**
     * The attack content-macs.ts describes, after the last checkpoint: no master key, but write access
     * to the database: the row's content replaced, its MAC cleared, its archive entry and the chain's
     * hashes rewritten to match. The chain verifies; nothing binds the row; checkpoints stop.
     */
    const forgeAfterCheckpoint = async () => {
      await checkpoint();
      const late = await send('Session moved to 3 pm.');
      const forged = await forgeBodyCt(db(), t.practiceA, FORGED_MESSAGE);
      await db()
        .updateTable('messages')
        .set({ body_ct: forged, body_mac: null })
        .where('id', '=', late.id)
        .execute();
      await rewriteArchived(db(), 'message', late.id, forged);
      const stopped = await archiveRun();
      expect(stopped.written).toEqual([]);
      expect(stopped.refused).toEqual([
        expect.objectContaining({ reason: 'content_mac_missing', ref: late.id }) as unknown,
      ]);
      return { ...late, forged, seq: await seqOf(late.id) };
    };

    it('lists the rows that stop the checkpoints, by reference only, and nothing when all are vouched for', async () => {
      const ok = await send('Your results are in.');
      expect(await listUnvouched(db(), masterKey(), t.practiceA)).toEqual([]);
      const late = await forgeAfterCheckpoint();
      // A row whose MAC is fine but whose archive entry was changed stops them too.
      const other = await forgeBodyCt(db(), t.practiceA, FORGED_MESSAGE);
      await rewriteArchived(db(), 'message', ok.id, other);
      const rows = await listUnvouched(db(), masterKey(), t.practiceA);
      expect(rows).toEqual([
        expect.objectContaining({ kind: 'message', id: ok.id, mac: 'ok', archive: 'differs' }) as unknown,
        expect.objectContaining({
          kind: 'message',
          id: late.id,
          mac: 'missing',
          archive: 'matches',
          seq: late.seq,
        }) as unknown,
      ]);
      expect(JSON.stringify(rows)).not.toMatch(/FORGED|results|Session|pat\.one/);
    });

    it('binds a row checked out of band when it is its archive entry, and the checkpoints resume', async () => {
      // A row written without a MAC (an old process in a rolling upgrade), its content genuine.
      await checkpoint();
      const late = await send('Session moved to 3 pm.');
      await db().updateTable('messages').set({ body_mac: null }).where('id', '=', late.id).execute();
      expect((await archiveRun()).written).toEqual([]);
      expect((await open(late.token)).html).toContain('Message unavailable');

      // Its entry lies after the last signed checkpoint: the match proves nothing, so bind refuses
      // unless the admin says they know.
      const unsure = await decideContent(db(), masterKey(), t.practiceA, late.id, {
        decision: 'bind',
        actor: ADMIN,
      });
      expect(unsure).toMatchObject({
        ok: false,
        reason: 'entry_not_checkpointed',
        row: { id: late.id, archive: 'matches', checkpoint: null },
      });
      expect((await open(late.token)).html).toContain('Message unavailable');
      const res = await decideContent(db(), masterKey(), t.practiceA, late.id, {
        decision: 'bind',
        actor: ADMIN,
        entryNotCheckpointed: true,
      });
      expect(res).toMatchObject({
        ok: true,
        previous: 'missing',
        row: { id: late.id, mac: 'ok', archive: 'matches', checkpoint: null },
      });
      const page = await open(late.token);
      expect(page.status).toBe(200);
      expect(page.html).toContain('Session moved to 3 pm.');
      const resumed = await archiveRun();
      expect(resumed.refused).toEqual([]);
      expect(resumed.written).toEqual([expect.objectContaining({ seq: await seqOf(late.id) }) as unknown]);
      expect((await verifyChains(db(), { masterKey: masterKey() })).ok).toBe(true);
      const audit = await db()
        .selectFrom('audit_events')
        .selectAll()
        .where('action', '=', AUDIT.CONTENT_DECISION)
        .execute();
      expect(audit).toEqual([
        expect.objectContaining({ outcome: 'failure', target_id: late.id }) as unknown,
        expect.objectContaining({
          outcome: 'success',
          actor_type: 'cli',
          actor_id: 'it-admin',
          target_id: late.id,
        }) as unknown,
      ]);
      expect(audit[0]!.details).toContain('entry_not_checkpointed');
      expect(audit[1]!.details).toContain('"entry_not_checkpointed":true');
      // Bound once: again is refused.
      expect(
        await decideContent(db(), masterKey(), t.practiceA, late.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'already_bound' });
    });

    it('shows which signed checkpoint covers each listed row, and binds a covered row without the override', async () => {
      const covered = await send('Your results are in.');
      await checkpoint();
      const coveredSeq = await seqOf(covered.id);
      const late = await send('Session moved to 3 pm.');
      // Both lose their MAC (a restore from a dump without the column, say).
      await db()
        .updateTable('messages')
        .set({ body_mac: null })
        .where('id', 'in', [covered.id, late.id])
        .execute();
      const signedAt = await db()
        .selectFrom('chain_checkpoints')
        .select(['seq', 'at'])
        .where('chain', 'like', 'archive:%')
        .executeTakeFirstOrThrow();
      expect(signedAt.seq).toBe(coveredSeq);
      const rows = await listUnvouched(db(), masterKey(), t.practiceA);
      expect(rows).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            id: covered.id,
            mac: 'missing',
            archive: 'matches',
            checkpoint: { seq: coveredSeq, at: signedAt.at },
          }),
          expect.objectContaining({ id: late.id, mac: 'missing', archive: 'matches', checkpoint: null }),
        ]) as unknown,
      );
      expect(rows).toHaveLength(2);
      expect(
        await decideContent(db(), masterKey(), t.practiceA, covered.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: true, row: { checkpoint: { seq: coveredSeq } } });
      expect(
        await decideContent(db(), masterKey(), t.practiceA, late.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'entry_not_checkpointed' });

      // A checkpoint the chain no longer matches (a covered entry rewritten, the chain re-hashed)
      // covers nothing: the rewritten row is not bound on its word.
      const forged = await forgeBodyCt(db(), t.practiceA, FORGED_MESSAGE);
      await db()
        .updateTable('messages')
        .set({ body_ct: forged, body_mac: null })
        .where('id', '=', covered.id)
        .execute();
      await rewriteArchived(db(), 'message', covered.id, forged);
      const again = await listUnvouched(db(), masterKey(), t.practiceA);
      expect(again.find((r) => r.id === covered.id)).toMatchObject({ archive: 'matches', checkpoint: null });
      expect(
        await decideContent(db(), masterKey(), t.practiceA, covered.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'entry_not_checkpointed' });
    });

    it('does not bind content that is not its archive entry without the unsafe override', async () => {
      const m = await send('Bring the worksheet.');
      const forged = await forgeBodyCt(db(), t.practiceA, FORGED_MESSAGE);
      await db()
        .updateTable('messages')
        .set({ body_ct: forged, body_mac: null })
        .where('id', '=', m.id)
        .execute();
      expect(
        await decideContent(db(), masterKey(), t.practiceA, m.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'content_not_in_archive', row: { archive: 'differs' } });
      expect((await open(m.token)).html).not.toContain('FORGED');
      const failed = await db()
        .selectFrom('audit_events')
        .select(['outcome', 'details'])
        .where('action', '=', AUDIT.CONTENT_DECISION)
        .executeTakeFirstOrThrow();
      expect(failed.outcome).toBe('failure');
      expect(failed.details).toContain('content_not_in_archive');
      // The admin says they checked this very content: bound, marked as such.
      const res = await decideContent(db(), masterKey(), t.practiceA, m.id, {
        decision: 'bind',
        actor: ADMIN,
        unsafeContentNotInArchive: true,
      });
      expect(res).toMatchObject({ ok: true, row: { archive: 'differs', mac: 'ok' } });
      // The archive entry still differs from the row: the writer still refuses that stretch.
      expect((await archiveRun()).refused).toEqual([
        expect.objectContaining({ reason: 'content_mismatch', ref: m.id }) as unknown,
      ]);
    });

    it('quarantines a forged row: reads say so, checkpoints resume naming its entry, and no later start binds it', async () => {
      const late = await forgeAfterCheckpoint();
      const res = await decideContent(db(), masterKey(), t.practiceA, late.id, {
        decision: 'quarantine',
        actor: ADMIN,
      });
      expect(res).toMatchObject({ ok: true, previous: 'missing', row: { mac: 'quarantined' } });
      const page = await open(late.token);
      expect(page.status).toBe(410);
      expect(page.html).toContain('withdrawn');
      expect(page.html).not.toContain('FORGED');

      const resumed = await archiveRun();
      expect(resumed.refused).toEqual([]);
      expect(resumed.written).toHaveLength(1);
      // Signed as such: the statement names the entry quarantined.
      expect(resumed.written[0]!.quarantined).toEqual([late.seq]);
      expect(resumed.written[0]!.signed).toMatch(new RegExp(`\\nquarantined: ${late.seq}\\r?\\n`));
      // The quarantine is carried on by the next checkpoint over more entries.
      await send('One more.');
      expect((await archiveRun()).written).toEqual([
        expect.objectContaining({ quarantined: [late.seq] }) as unknown,
      ]);

      const report = await verifyChains(db(), { masterKey: masterKey() });
      expect(report.ok).toBe(true);
      expect(report.quarantinedRows).toEqual([
        expect.objectContaining({ ref: late.id, reason: 'content_quarantined' }) as unknown,
      ]);
      expect(report.chains.find((c) => c.chain.startsWith('archive:'))?.quarantined).toEqual([late.seq]);

      // An export says so, not that the archive vouches for that entry.
      const exported = await buildExport(db(), masterKey(), { practiceId: t.practiceA, allowBroken: false });
      if (!exported.ok) throw new Error(exported.reason);
      const entries = exported.jsonl
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              type: string;
              archive?: { seq: number; verified: boolean; quarantined?: boolean };
            },
        )
        .filter((l) => l.type === 'entry');
      expect(entries.find((e) => e.archive!.seq === late.seq)!.archive).toMatchObject({
        verified: false,
        quarantined: true,
      });
      expect(entries.filter((e) => e.archive!.verified)).toHaveLength(entries.length - 1);

      // The attack on the quarantine: delete the marker, so the row is one "merely missing its MAC"
      // that a signed checkpoint now covers. The checkpoint names it quarantined: not bound.
      await db().updateTable('messages').set({ body_mac: null }).where('id', '=', late.id).execute();
      expect(await backfillContentMacs(db(), masterKey(), { upgrade: false })).toEqual({
        bound: 0,
        refused: 1,
      });
      expect((await open(late.token)).html).not.toContain('FORGED');
      // And attune verify names it again, as a row without its MAC.
      const after = await verifyChains(db(), { masterKey: masterKey() });
      expect(after.contentMacFailures).toEqual([
        expect.objectContaining({ reason: 'content_mac_missing', ref: late.id }) as unknown,
      ]);
    });

    it('names in the next checkpoint a quarantine of a row a checkpoint already covers, so deleting its marker does not get it bound', async () => {
      const m = await send('Your results are in.');
      const seq = await seqOf(m.id);
      expect((await archiveRun()).written).toEqual([expect.objectContaining({ seq }) as unknown]);
      // The covered row loses its MAC; the admin, checking it out of band, refuses it.
      await db().updateTable('messages').set({ body_mac: null }).where('id', '=', m.id).execute();
      expect(
        await decideContent(db(), masterKey(), t.practiceA, m.id, { decision: 'quarantine', actor: ADMIN }),
      ).toMatchObject({ ok: true, row: { mac: 'quarantined', checkpoint: { seq } } });
      // The next checkpoint (over later entries) names it, though it lies before that checkpoint's start.
      await send('See you Tuesday.');
      const next = await archiveRun();
      expect(next.refused).toEqual([]);
      expect(next.written).toEqual([
        expect.objectContaining({ seq: seq + 1, quarantined: [seq] }) as unknown,
      ]);
      expect(next.written[0]!.signed).toMatch(new RegExp(`\\nquarantined: ${seq}\\r?\\n`));
      // Carried on, not named twice.
      await send('One more.');
      expect((await archiveRun()).written).toEqual([
        expect.objectContaining({ quarantined: [seq] }) as unknown,
      ]);
      const before = await verifyChains(db(), { masterKey: masterKey() });
      expect(before.ok).toBe(true);
      expect(before.chains.find((c) => c.chain.startsWith('archive:'))?.quarantined).toEqual([seq]);

      // The marker deleted: a row a checkpoint covers, merely missing its MAC, which the start-up
      // backfill would bind. The signed name keeps it withdrawn, and verify reports it.
      await db().updateTable('messages').set({ body_mac: null }).where('id', '=', m.id).execute();
      expect(await backfillContentMacs(db(), masterKey(), { upgrade: false })).toEqual({
        bound: 0,
        refused: 1,
      });
      expect((await open(m.token)).html).toContain('Message unavailable');
      const after = await verifyChains(db(), { masterKey: masterKey() });
      expect(after.ok).toBe(false);
      expect(after.contentMacFailures).toEqual([
        expect.objectContaining({ reason: 'content_mac_missing', ref: m.id }) as unknown,
      ]);
      expect(after.chains.find((c) => c.chain.startsWith('archive:'))?.quarantined).toEqual([seq]);
    });

    it('finds the quarantined rows through their partial indexes (migration 0015), not by scanning', async () => {
      for (const table of ['messages', 'replies'] as const) {
        const c = quarantinedRowsQuery(db(), table).compile();
        let plan: string;
        if (dialect === 'sqlite') {
          const r = await db().executeQuery<{ detail: string }>(
            CompiledQuery.raw(`explain query plan ${c.sql}`, [...c.parameters]),
          );
          plan = r.rows.map((x) => x.detail).join('\n');
        } else {
          // The tables are tiny, so the planner would scan them anyway: ask whether it can avoid it.
          plan = await db()
            .transaction()
            .execute(async (tx) => {
              await sql`set local enable_seqscan = off`.execute(tx);
              const r = await tx.executeQuery<{ 'QUERY PLAN': string }>(
                CompiledQuery.raw(`explain ${c.sql}`, [...c.parameters]),
              );
              return r.rows.map((x) => x['QUERY PLAN']).join('\n');
            });
        }
        expect(plan).toContain(`${table}_quarantined`);
      }
    });

    it('does not sign past forged content whose entry was pointed at a quarantined row', async () => {
      const late = await forgeAfterCheckpoint();
      await decideContent(db(), masterKey(), t.practiceA, late.id, { decision: 'quarantine', actor: ADMIN });
      expect((await archiveRun()).written).toEqual([
        expect.objectContaining({ quarantined: [late.seq] }) as unknown,
      ]);
      // After that checkpoint: another message forged, and its entry re-pointed at the quarantined row
      // (ref_id is hashed into the entry, so the chain is re-hashed from there: no master key needed).
      const next = await send('Second message.');
      const forged = await forgeBodyCt(db(), t.practiceA, FORGED_MESSAGE);
      await rewriteArchived(db(), 'message', next.id, forged, { newRefId: late.id });
      const run = await archiveRun();
      expect(run.written).toEqual([]);
      expect(run.refused).toEqual([
        expect.objectContaining({ reason: 'content_mismatch', ref: late.id, seq: late.seq + 1 }) as unknown,
      ]);
      const report = await verifyChains(db(), { masterKey: masterKey() });
      expect(report.ok).toBe(false);
      expect(report.chains.find((c) => c.chain.startsWith('archive:'))?.break).toMatchObject({
        reason: 'content_mismatch',
        seq: late.seq + 1,
      });
    });

    it('refuses a quarantine marker forged or copied from another row: the row stays refused and stops the checkpoints', async () => {
      const late = await forgeAfterCheckpoint();
      const victim = await send('Genuine message.');
      // A genuine marker of another row (and of other content), then one made up with the key id.
      const mk = masterKey();
      const other = quarantineMarker(mk, 'messages', {
        id: victim.id,
        practiceId: t.practiceA,
        bodyCt: late.forged,
      });
      for (const marker of [other, `cq1.${mk.id}.${'A'.repeat(43)}`]) {
        await db().updateTable('messages').set({ body_mac: marker }).where('id', '=', late.id).execute();
        const run = await archiveRun();
        expect(run.written).toEqual([]);
        expect(run.refused).toEqual([
          expect.objectContaining({ reason: 'content_mac_mismatch', ref: late.id }) as unknown,
        ]);
        const page = await open(late.token);
        expect(page.status).toBe(500);
        expect(page.html).not.toContain('FORGED');
        const report = await verifyChains(db(), { masterKey: mk });
        expect(report.ok).toBe(false);
        expect(report.quarantinedRows).toEqual([]);
      }
      expect(await backfillContentMacs(db(), mk, { upgrade: false })).toEqual({ bound: 0, refused: 0 });
    });

    it('answers a quarantined reply with 410 content_quarantined, and bind undoes the quarantine of genuine content', async () => {
      const m = await send('How are you this week?');
      const reply = await acceptReply(deliveryFor(t.deps).services, {
        token: m.token,
        text: 'Better.',
        source: 'viewer',
      });
      if (!reply.ok) throw new Error(reply.reason);
      // Its MAC lost (a restore, say): the admin quarantines first, then checks and binds it.
      await db().updateTable('replies').set({ body_mac: null }).where('id', '=', reply.replyId).execute();
      expect(
        await decideContent(db(), masterKey(), t.practiceA, reply.replyId, {
          decision: 'quarantine',
          actor: ADMIN,
        }),
      ).toMatchObject({ ok: true, row: { kind: 'reply' } });
      const read = () =>
        t.app.request(`/v1/replies/${reply.replyId}`, { headers: { authorization: `Bearer ${tok}` } });
      const r = await read();
      expect(r.status).toBe(410);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('content_quarantined');
      expect(
        await decideContent(db(), masterKey(), t.practiceA, reply.replyId, {
          decision: 'quarantine',
          actor: ADMIN,
        }),
      ).toMatchObject({ ok: false, reason: 'already_quarantined' });
      expect(
        await decideContent(db(), masterKey(), t.practiceA, reply.replyId, {
          decision: 'bind',
          actor: ADMIN,
          entryNotCheckpointed: true,
        }),
      ).toMatchObject({ ok: true, previous: 'quarantined' });
      expect((await read()).status).toBe(200);
      // A vouched-for row is not quarantined; another practice's id is not found.
      expect(
        await decideContent(db(), masterKey(), t.practiceA, m.id, { decision: 'quarantine', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'vouched_for' });
      expect(
        await decideContent(db(), masterKey(), t.practiceB, m.id, { decision: 'bind', actor: ADMIN }),
      ).toMatchObject({ ok: false, reason: 'not_found' });
    });
  },
);
