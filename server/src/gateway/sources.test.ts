import { describe, expect, it } from 'vitest';
import { InvalidSourceError, parseSources } from './sources.ts';
import { loadGatewayConfig, GatewayConfigError } from './config.ts';
import { RateLimiter } from './limits.ts';

describe('allowed sources', () => {
  const m = parseSources(['192.0.2.10', '10.20.0.0/16', '2001:db8:abcd::/48', '::1']);

  it('matches single IPv4 addresses and IPv4 CIDR ranges', () => {
    expect(m.allows('192.0.2.10')).toBe(true);
    expect(m.allows('192.0.2.11')).toBe(false);
    expect(m.allows('10.20.255.1')).toBe(true);
    expect(m.allows('10.21.0.1')).toBe(false);
  });

  it('matches IPv4 clients reported as IPv4-mapped IPv6 by a dual-stack socket', () => {
    expect(m.allows('::ffff:10.20.3.4')).toBe(true);
    expect(m.allows('::ffff:10.99.3.4')).toBe(false);
  });

  it('matches IPv6 addresses and ranges', () => {
    expect(m.allows('2001:db8:abcd:12::5')).toBe(true);
    expect(m.allows('2001:db8:abce::5')).toBe(false);
    expect(m.allows('::1')).toBe(true);
  });

  it('never matches a malformed address', () => {
    expect(m.allows('not-an-ip')).toBe(false);
    expect(m.allows('')).toBe(false);
  });

  it('rejects malformed entries at start-up', () => {
    expect(() => parseSources(['10.0.0.0/33'])).toThrow(InvalidSourceError);
    expect(() => parseSources(['example.com'])).toThrow(InvalidSourceError);
    expect(() => parseSources(['10.0.0.0/8/1'])).toThrow(InvalidSourceError);
  });
});

describe('gateway configuration', () => {
  it('defaults to port 2525, loopback relaying and no TLS', () => {
    const c = loadGatewayConfig({});
    expect(c.port).toBe(2525);
    expect(c.allowedSources).toEqual(['127.0.0.1', '::1']);
    expect(c.tls).toBeNull();
    expect(c.requireTls).toBe(false);
  });

  it('refuses GATEWAY_REQUIRE_TLS without a certificate, and weak connector passwords', () => {
    expect(() => loadGatewayConfig({ GATEWAY_REQUIRE_TLS: 'true' })).toThrow(GatewayConfigError);
    expect(() => loadGatewayConfig({ GATEWAY_AUTH_USERS: 'exchange:short' })).toThrow(GatewayConfigError);
    expect(() => loadGatewayConfig({ GATEWAY_PORT: '70000' })).toThrow(GatewayConfigError);
  });

  it('reads connectors, sources and the reply domain', () => {
    const c = loadGatewayConfig({
      GATEWAY_ALLOWED_SOURCES: '35.190.247.0/24, 2001:4860:4000::/36',
      GATEWAY_AUTH_USERS: 'exchange:0123456789abcdef0123',
      GATEWAY_REPLY_DOMAIN: 'Reply.Clinic.org',
    });
    expect(c.allowedSources).toEqual(['35.190.247.0/24', '2001:4860:4000::/36']);
    expect(c.connectors).toEqual([{ user: 'exchange', password: '0123456789abcdef0123' }]);
    expect(c.replyDomains).toEqual(['reply.clinic.org']);
  });

  it('reads the From address of delivery reports, and refuses one that is not an address', () => {
    expect(loadGatewayConfig({}).dsnFrom).toBeNull();
    expect(loadGatewayConfig({ GATEWAY_DSN_FROM: 'postmaster@clinic.org' }).dsnFrom).toBe(
      'postmaster@clinic.org',
    );
    for (const bad of ['postmaster', 'post master@clinic.org', 'postmaster@clinic', '<x@clinic.org>'])
      expect(() => loadGatewayConfig({ GATEWAY_DSN_FROM: bad })).toThrow(GatewayConfigError);
  });

  it('relays for GATEWAY_SENDER_DOMAINS and MAIL_FROM’s domain besides the practices’, and refuses a non-domain', () => {
    expect(loadGatewayConfig({}).senderDomains).toEqual([]);
    expect(
      loadGatewayConfig({
        GATEWAY_SENDER_DOMAINS: 'Lakeside.Example, other.example',
        MAIL_FROM: 'notices@attune.example',
      }).senderDomains,
    ).toEqual(['lakeside.example', 'other.example', 'attune.example']);
    expect(() => loadGatewayConfig({ GATEWAY_SENDER_DOMAINS: 'not a domain!' })).toThrow(GatewayConfigError);
  });
});

describe('rate limiter', () => {
  it('allows a minute of budget, then refills over time', () => {
    let t = 0;
    const r = new RateLimiter(3, () => t);
    expect([r.take('a'), r.take('a'), r.take('a'), r.take('a')]).toEqual([true, true, true, false]);
    expect(r.take('b')).toBe(true);
    t = 20_000;
    expect(r.take('a')).toBe(true);
    expect(r.take('a')).toBe(false);
  });
});
