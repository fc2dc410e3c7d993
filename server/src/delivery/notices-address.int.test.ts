// The From address of each practice's notices in a deployment that serves several practices:
// MAIL_FROM is the configured practice's address when its domain is that practice's, and a host's
// address for every practice when its domain is no practice's. Real store, on each dialect under test.
import { afterEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../http/testing.ts';
import { dialectsUnderTest } from '../store/testing.ts';
import { mailIdentity, noticesAddress } from './services.ts';

describe.each(dialectsUnderTest())('notices From address on %s', (dialect) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });
  const fromOf = async (app: TestApp, practiceId: string) =>
    (await mailIdentity({ db: app.store.db, config: app.config }, practiceId)).from.address;

  it("keeps a practice's own MAIL_FROM off another practice's notices", async () => {
    t = await createTestApp(dialect, { MAIL_FROM: 'secure@a.example.org' });
    expect(await fromOf(t, t.practiceA)).toBe('secure@a.example.org');
    expect(await fromOf(t, t.practiceB)).toBe('notices@b.example.org');
  });

  it("treats a practice's reply domain as its own", async () => {
    t = await createTestApp(dialect, { MAIL_FROM: 'secure@reply.a.example.org' });
    await t.store.db
      .updateTable('practices')
      .set({ reply_domain: 'reply.a.example.org' })
      .where('id', '=', t.practiceA)
      .execute();
    expect(await noticesAddress(t.store.db, t.config.mailFrom, t.practiceA, 'reply.a.example.org')).toBe(
      'secure@reply.a.example.org',
    );
    expect(await noticesAddress(t.store.db, t.config.mailFrom, t.practiceB, 'b.example.org')).toBe(
      'notices@b.example.org',
    );
  });

  it("uses a host's address, which is no practice's, for every practice", async () => {
    t = await createTestApp(dialect, { MAIL_FROM: 'notices@attune-host.example' });
    expect(await fromOf(t, t.practiceA)).toBe('notices@attune-host.example');
    expect(await fromOf(t, t.practiceB)).toBe('notices@attune-host.example');
  });

  it('falls back to notices@<mail domain> without MAIL_FROM', async () => {
    t = await createTestApp(dialect);
    expect(await fromOf(t, t.practiceA)).toBe('notices@a.example.org');
    expect(await fromOf(t, t.practiceB)).toBe('notices@b.example.org');
  });
});
