import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('starts on embedded defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.env).toBe('development');
    expect(c.dataDir.endsWith('/data')).toBe(true);
    expect(c.mailDir.endsWith('/data/mail')).toBe(true);
    expect(c.smtpRequireTls).toBe(true);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.identity.dev.enabled).toBe(true);
    expect(c.publicUrl).toBe('http://localhost:3000');
  });

  it('names each bad variable without echoing its value', () => {
    try {
      loadConfig({ PORT: 'seventy', DATABASE_URL: 'mysql://secret-pass@x/db', SMTP_REQUIRE_TLS: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const msg = (err as Error).message;
      expect(msg).toContain('PORT');
      expect(msg).toContain('DATABASE_URL');
      expect(msg).toContain('SMTP_REQUIRE_TLS');
      expect(msg).not.toContain('secret-pass');
    }
  });

  it('refuses production without an https PUBLIC_URL, master key, SMTP relay and identity provider', () => {
    expect(() => loadConfig({ ATTUNE_ENV: 'production', PUBLIC_URL: 'http://x.example.org' })).toThrow(
      /PUBLIC_URL: must be https[\s\S]*ATTUNE_MASTER_KEY[\s\S]*PRACTICE_DOMAINS[\s\S]*SMTP_URL[\s\S]*ENTRA_CLIENT_IDS/,
    );
  });

  it('disables development tokens in production', () => {
    const c = loadConfig({
      ATTUNE_ENV: 'production',
      PUBLIC_URL: 'https://attune.example.org',
      ATTUNE_MASTER_KEY: 'k',
      PRACTICE_DOMAINS: 'Clinic.example.org, other.example.org',
      SMTP_URL: 'smtp://relay.example.org:587',
      GOOGLE_CLIENT_IDS: 'abc.apps.googleusercontent.com',
      ADMIN_EMAILS: 'Boss@Clinic.example.org',
    });
    expect(c.identity.dev.enabled).toBe(false);
    expect(c.practice.domains).toEqual(['clinic.example.org', 'other.example.org']);
    expect(c.adminEmails).toEqual(['boss@clinic.example.org']);
    expect(c.host).toBe('0.0.0.0');
  });

  it('keeps a development server (which mints tokens for anyone) off the network unless told otherwise', () => {
    expect(() => loadConfig({ HOST: '0.0.0.0' })).toThrow(/HOST: development mode issues tokens/);
    expect(loadConfig({ HOST: '127.0.0.1' }).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0', ATTUNE_UNSAFE_DEV_ON_NETWORK: 'true' }).host).toBe('0.0.0.0');
    // Behind a reverse proxy it is on the network whatever HOST says.
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(
      /TRUST_PROXY: a reverse proxy puts a development server/,
    );
    expect(loadConfig({ TRUST_PROXY: 'true', ATTUNE_UNSAFE_DEV_ON_NETWORK: 'true' }).trustProxy).toBe(true);
  });
});
