import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import {
  AUDIT,
  appendAudit,
  type AuditAction,
  type AuditDetails,
  type AuditOutcome,
} from '../../audit/index.ts';
import { deliveryFor } from '../../delivery/index.ts';
import { acceptReply, MAX_REPLY_CHARS } from '../../delivery/reply.ts';
import { ContentUnreadable, logUnreadable } from '../../delivery/services.ts';
import { codeBody, infoBody, messageBody, page } from '../../viewer/render.ts';
import { sanitizeMessageHtml } from '../../viewer/sanitize.ts';
import {
  codeRequired,
  practiceName,
  auditView,
  readMessage,
  recordFirstOpen,
  requestCode,
  resolveLink,
  verifyCode,
  type OpenLink,
} from '../../viewer/service.ts';
import {
  checkCsrf,
  checkOpenToken,
  checkVerifiedCookie,
  cookieName,
  csrfToken,
  deriveViewerKeys,
  newNonce,
  openToken,
  VERIFIED_TTL_MS,
  verifiedCookieValue,
} from '../../viewer/session.ts';
import { RateLimiter } from '../middleware/rate-limit.ts';
import type { AppEnv, RouteModule } from '../types.ts';

// The patient's secure viewer at /m/:token: a small server-rendered page with a strict CSP (per-
// response nonces), no caching, no referrer, HSTS. Expired, revoked and unknown links get a clear
// page with 410/404, never an error. Brute force is limited per address (unknown tokens, code
// guesses) and per link (a code is void after 5 wrong tries; at most 10 codes per link).
//
// Opens: mail security scanners and link prefetchers (Safe Links, Proofpoint, Mimecast, mail
// proxies) GET and HEAD links in incoming mail with no person present. The GET therefore only
// audits the read; the first `opened` is recorded on evidence of a person: the page's script
// posting its signed token once the page has been visible (POST /m/:token/opened), a verified
// one-time code, or a reply sent from the page.

type C = Context<AppEnv>;

function csp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "form-action 'self'",
    // Only for the page's open beacon (POST /m/:token/opened) to our own origin.
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

function viewerHeaders(c: C, nonce: string): void {
  c.header('Content-Security-Policy', csp(nonce));
  c.header('Cache-Control', 'no-store, max-age=0');
  c.header('Pragma', 'no-cache');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  c.header('X-Frame-Options', 'DENY');
  c.header('X-Robots-Tag', 'noindex, nofollow');
}

function render(
  c: C,
  status: 200 | 400 | 403 | 404 | 410 | 429 | 500,
  title: string,
  practice: string,
  body: string,
) {
  const nonce = newNonce();
  viewerHeaders(c, nonce);
  return c.html(page({ nonce, title, practiceName: practice, body }), status);
}

const GENERIC = 'Secure message';

export const viewer: RouteModule = {
  mount(app, deps) {
    const delivery = deliveryFor(deps);
    const svc = delivery.services;
    const keys = deriveViewerKeys(svc.masterKey);
    const cookie = cookieName(deps.config.publicUrl);
    const secureCookie = deps.config.publicUrl.startsWith('https://');
    const publicOrigin = new URL(deps.config.publicUrl).origin;
    // Per client address, over ten minutes: unknown tokens, code guesses, and code requests.
    const badTokens = new RateLimiter(20, 10 * 60_000);
    const codeGuesses = new RateLimiter(30, 10 * 60_000);
    const codeSends = new RateLimiter(10, 10 * 60_000);
    // The open beacon: one per page view is normal; this bounds a client replaying tokens.
    const openBeacons = new RateLimiter(60, 10 * 60_000);
    const fallbackName = deps.config.practice.name;

    const tooMany = (c: C) => {
      c.header('Retry-After', '600');
      return render(
        c,
        429,
        GENERIC,
        fallbackName,
        infoBody('Please wait', 'Too many attempts from your network. Please try again in a few minutes.'),
      );
    };

    /** Resolves the token, or renders the page that explains why it does not work. */
    async function open(c: C): Promise<{ link: OpenLink; practice: string } | Response> {
      const ip = c.get('ip');
      const probe = badTokens.take(`ip:${ip}`, Date.now(), 0);
      if (!probe.allowed) return tooMany(c);
      const state = await resolveLink(svc, c.req.param('token') ?? '');
      if (!state.ok) {
        // A link is the patient's credential: a refused one is an authentication failure (the
        // reason only; never the token). Unknown tokens are rate limited above, so this is bounded.
        // An expired or revoked link is recorded in its practice's trail against its message, so
        // the practice can see tries to open a message it withdrew.
        await appendAudit(svc.db, {
          action: AUDIT.AUTH_FAILURE,
          outcome: 'failure',
          actor: { type: 'anonymous' },
          ip,
          requestId: c.get('requestId'),
          ...(state.reason === 'unknown_token'
            ? {}
            : { practiceId: state.practiceId, target: { type: 'message', id: state.messageId } }),
          details: { reason: state.reason, credential: 'viewer_link' },
        });
        if (state.reason === 'unknown_token') {
          badTokens.take(`ip:${ip}`);
          return render(
            c,
            404,
            GENERIC,
            fallbackName,
            infoBody(
              'Link not found',
              'This secure message link is not valid. Check that you copied the whole address from your email.',
            ),
          );
        }
        const title = state.reason === 'expired' ? 'This link has expired' : 'This message was withdrawn';
        const text =
          state.reason === 'expired'
            ? 'For your privacy, secure message links work for a limited time. Please contact your provider if you still need this message.'
            : 'Your provider withdrew this message. Please contact them if you have questions.';
        return render(c, 410, GENERIC, fallbackName, infoBody(title, text));
      }
      return { link: state, practice: await practiceName(svc, state.practiceId) };
    }

    /**
     * Same-origin check for form posts (ASVS 3.5.x), beside the CSRF token. Browsers send
     * Sec-Fetch-Site; with our Referrer-Policy: no-referrer they send `Origin: null` even for our
     * own forms, so a null Origin is judged by Sec-Fetch-Site, and a real Origin must be ours.
     */
    function sameOrigin(c: C): boolean {
      const site = c.req.header('sec-fetch-site');
      if (site !== undefined && site !== 'same-origin') return false;
      const origin = c.req.header('origin');
      if (origin === undefined || origin === 'null') return true;
      return origin === publicOrigin || origin === new URL(c.req.url).origin;
    }

    /** A form POST on a live link from our own page: the link, the practice and the fields, or the refusal page. */
    async function postedForm(
      c: C,
    ): Promise<{ link: OpenLink; practice: string; f: Record<string, string> } | Response> {
      const o = await open(c);
      if (o instanceof Response) return o;
      const f = await form(c);
      if (!f || !sameOrigin(c) || !checkCsrf(keys, o.link.linkId, f['csrf'], Date.now())) {
        return render(
          c,
          403,
          GENERIC,
          o.practice,
          infoBody('Please try again', 'This form expired. Go back to the link in your email and try again.'),
        );
      }
      return { ...o, f };
    }

    async function form(c: C): Promise<Record<string, string> | null> {
      const type = c.req.header('content-type') ?? '';
      if (!/^application\/x-www-form-urlencoded\b/i.test(type) && !/^multipart\/form-data\b/i.test(type))
        return null;
      // A multipart body that does not parse (no or wrong boundary, truncated) makes undici throw a
      // TypeError: that is the sender's bad form, so it gets the same page as a missing form, not a 500.
      let body: Awaited<ReturnType<typeof c.req.parseBody>>;
      try {
        body = await c.req.parseBody();
      } catch {
        return null;
      }
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
      return out;
    }

    /**
     * Audits what the link holder (the message's patient) did, by reference: the delivery's patient
     * id, the message id. Opening and replying are audited by the delivery module; this covers the
     * rest (attachment downloads, the one-time code step).
     */
    async function auditPatient(
      c: C,
      link: OpenLink,
      action: AuditAction,
      outcome: AuditOutcome,
      details: AuditDetails,
    ): Promise<void> {
      const d = await svc.db
        .selectFrom('deliveries')
        .select('patient_id')
        .where('id', '=', link.deliveryId)
        .executeTakeFirst();
      await appendAudit(svc.db, {
        action,
        outcome,
        actor: { type: 'patient', id: d?.patient_id ?? null },
        practiceId: link.practiceId,
        ip: c.get('ip'),
        requestId: c.get('requestId'),
        target: { type: 'message', id: link.messageId },
        details,
      });
    }

    /**
     * A stored message that cannot be read (replaced in the database, or corrupted): the patient
     * gets a plain page rather than an error body, the operator a log line naming the message (run
     * attune verify), the practice's trail a failed read. Any other error goes on to the handler.
     */
    async function unreadable(c: C, e: unknown, link: OpenLink, practice: string): Promise<Response> {
      if (!(e instanceof ContentUnreadable)) throw e;
      // Quarantined by an admin (attune archive content-macs): a known state, not a fault to log.
      const quarantined = e.reason === 'content_quarantined';
      if (!quarantined) logUnreadable(svc.logger, e, c.get('requestId'));
      await appendAudit(svc.db, {
        action: AUDIT.VIEWER_OPEN,
        outcome: 'failure',
        actor: { type: 'anonymous', id: null },
        practiceId: link.practiceId,
        ip: c.get('ip'),
        requestId: c.get('requestId'),
        target: { type: 'message', id: link.messageId },
        details: { reason: quarantined ? 'content_quarantined' : 'content_unreadable' },
      });
      if (quarantined)
        return render(
          c,
          410,
          GENERIC,
          practice,
          infoBody(
            'Message unavailable',
            `This message was withdrawn and cannot be shown. Please contact ${practice} and ask them to send it again.`,
          ),
        );
      return render(
        c,
        500,
        GENERIC,
        practice,
        infoBody(
          'Message unavailable',
          `This message cannot be shown right now. Please contact ${practice} and ask them to send it again.`,
        ),
      );
    }

    function verified(c: C, link: OpenLink): boolean {
      return checkVerifiedCookie(keys, link.linkId, getCookie(c, cookie), Date.now());
    }

    function codePage(
      c: C,
      link: OpenLink,
      practice: string,
      opts: { sent?: boolean; error?: string | null; locked?: boolean; status?: 200 | 400 | 429 },
    ) {
      const base = `/m/${c.req.param('token')}`;
      return render(
        c,
        opts.status ?? 200,
        GENERIC,
        practice,
        codeBody({
          sendAction: `${base}/code/send`,
          verifyAction: `${base}/code`,
          csrf: csrfToken(keys, link.linkId, Date.now()),
          sent: opts.sent ?? false,
          error: opts.error ?? null,
          locked: opts.locked ?? false,
        }),
      );
    }

    app.get('/m/:token', async function viewMessage(c) {
      const o = await open(c);
      if (o instanceof Response) return o;
      const { link, practice } = o;
      if ((await codeRequired(svc, link.practiceId)) && !verified(c, link)) {
        return codePage(c, link, practice, { sent: c.req.query('sent') === '1' });
      }
      const m = await readMessage(svc, link).catch((e: unknown) => unreadable(c, e, link, practice));
      if (m instanceof Response) return m;
      if (!m)
        return render(
          c,
          404,
          GENERIC,
          practice,
          infoBody('Link not found', 'This secure message is no longer available.'),
        );
      // A read of the content (audited), but not an open: scanners fetch links too (see above).
      await auditView(svc, link, { ip: c.get('ip'), requestId: c.get('requestId') });
      const base = `/m/${c.req.param('token')}`;
      const html = m.content.html !== undefined ? sanitizeMessageHtml(m.content.html) : null;
      return render(
        c,
        200,
        m.content.subject ? `${GENERIC}` : GENERIC,
        practice,
        messageBody(
          {
            subject: m.content.subject,
            sentAt: m.sentAt,
            safeHtml: html,
            text: m.content.text ?? null,
            attachments: m.content.attachments.map((a, i) => ({
              filename: a.filename,
              size: Math.floor((a.contentBase64.replace(/=+$/, '').length * 3) / 4),
              href: `${base}/a/${i}`,
            })),
            replyAction: `${base}/reply`,
            csrf: csrfToken(keys, link.linkId, Date.now()),
            openAction: `${base}/opened`,
            openToken: openToken(keys, link.linkId, Date.now()),
            replied: c.req.query('replied') === '1',
            expiresAt: link.expiresAt,
          },
          practice,
        ),
      );
    });

    app.post('/m/:token/opened', async function opened(c) {
      const o = await open(c);
      if (o instanceof Response) return o;
      const { link } = o;
      if (!openBeacons.take(`ip:${c.get('ip')}`).allowed) return tooMany(c);
      const f = await form(c);
      // Same checks as the forms: our origin, and the token only the message page carries. Refusals
      // get the same page as a refused form (the script ignores the body; a person never sees it).
      const refused = () =>
        render(
          c,
          403,
          GENERIC,
          o.practice,
          infoBody('Please try again', 'This page expired. Go back to the link in your email and try again.'),
        );
      if (!f || !sameOrigin(c) || !checkOpenToken(keys, link.linkId, f['t'], Date.now())) return refused();
      if ((await codeRequired(svc, link.practiceId)) && !verified(c, link)) return refused();
      await recordFirstOpen(svc, link, 'page_visible');
      return c.body(null, 204);
    });

    app.post('/m/:token/code/send', async function sendCode(c) {
      const o = await postedForm(c);
      if (o instanceof Response) return o;
      const { link, practice } = o;
      if (!codeSends.take(`ip:${c.get('ip')}`).allowed) return tooMany(c);
      const r = await requestCode(svc, keys, link);
      if (!r.ok) {
        return codePage(c, link, practice, {
          status: 429,
          error:
            r.reason === 'too_soon'
              ? 'We just sent a code. Please wait a moment before asking for another.'
              : 'Too many codes were requested for this message. Please contact your provider.',
        });
      }
      return c.redirect(`/m/${c.req.param('token')}?sent=1`, 303);
    });

    app.post('/m/:token/code', async function checkCode(c) {
      const o = await postedForm(c);
      if (o instanceof Response) return o;
      const { link, practice, f } = o;
      if (!codeGuesses.take(`ip:${c.get('ip')}`).allowed) return tooMany(c);
      const r = await verifyCode(svc, keys, link, f['code'] ?? '');
      // The code is the patient's second factor: a wrong one is a failed login, the right one a login.
      await auditPatient(
        c,
        link,
        r.ok ? AUDIT.LOGIN : AUDIT.AUTH_FAILURE,
        r.ok ? 'success' : 'failure',
        r.ok ? { factor: 'one_time_code' } : { factor: 'one_time_code', reason: r.reason },
      );
      if (!r.ok) {
        const error = {
          wrong: 'That code is not right. Check the latest email and try again.',
          expired: 'That code has expired. Ask for a new one.',
          locked: 'Too many wrong codes. Ask for a new code.',
          none: 'Ask for a code first.',
        }[r.reason];
        return codePage(c, link, practice, {
          status: 400,
          error,
          locked: r.reason === 'locked' || r.reason === 'none' || r.reason === 'expired',
        });
      }
      setCookie(c, cookie, verifiedCookieValue(keys, link.linkId, Date.now()), {
        httpOnly: true,
        secure: secureCookie,
        sameSite: 'Strict',
        path: '/',
        maxAge: Math.floor(VERIFIED_TTL_MS / 1000),
      });
      // Entering the emailed code is a person opening the message, whatever the page script does.
      await recordFirstOpen(svc, link, 'one_time_code');
      return c.redirect(`/m/${c.req.param('token')}`, 303);
    });

    app.post('/m/:token/reply', async function reply(c) {
      const o = await postedForm(c);
      if (o instanceof Response) return o;
      const { link, practice, f } = o;
      if ((await codeRequired(svc, link.practiceId)) && !verified(c, link))
        return codePage(c, link, practice, {});
      const text = (f['text'] ?? '').trim();
      if (text === '' || text.length > MAX_REPLY_CHARS) {
        return render(
          c,
          400,
          GENERIC,
          practice,
          infoBody('Reply not sent', `Write a reply of up to ${MAX_REPLY_CHARS} characters.`),
        );
      }
      // acceptReply records the first open too (a reply is evidence of a person).
      const r = await acceptReply(svc, {
        token: c.req.param('token'),
        text,
        source: 'viewer',
        ip: c.get('ip'),
        requestId: c.get('requestId'),
      });
      if (!r.ok && r.reason === 'too_many')
        return render(
          c,
          429,
          GENERIC,
          practice,
          infoBody(
            'Reply not sent',
            'This message has received many replies today, so this one was not sent. Please try again tomorrow, or contact the practice directly. If you are in crisis or thinking about harming yourself, call or text 988 (US), or your local emergency number, now.',
          ),
        );
      if (!r.ok)
        return render(
          c,
          410,
          GENERIC,
          practice,
          infoBody('Reply not sent', 'This message link no longer works.'),
        );
      // Post/redirect/get: a reload does not send the reply again.
      return c.redirect(`/m/${c.req.param('token')}?replied=1`, 303);
    });

    app.get('/m/:token/a/:index', async function attachment(c) {
      const o = await open(c);
      if (o instanceof Response) return o;
      const { link, practice } = o;
      if ((await codeRequired(svc, link.practiceId)) && !verified(c, link))
        return codePage(c, link, practice, {});
      const m = await readMessage(svc, link).catch((e: unknown) => unreadable(c, e, link, practice));
      if (m instanceof Response) return m;
      const index = Number(c.req.param('index'));
      const a = m && Number.isInteger(index) ? m.content.attachments[index] : undefined;
      if (!a)
        return render(
          c,
          404,
          GENERIC,
          practice,
          infoBody('Attachment not found', 'This attachment is not part of the message.'),
        );
      // A download is a read of the message's content (PHI), like opening it.
      await auditPatient(c, link, AUDIT.PHI_READ, 'success', { view: 'attachment', index });
      // A lone surrogate (in a filename stored before sends refused them) would make
      // encodeURIComponent throw, a 500: U+FFFD stands in for it, as String#toWellFormed does.
      const filename = a.filename.replace(/\p{Cs}/gu, '\uFFFD');
      const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
      // Always a download, never rendered on our origin (an HTML attachment must not run here).
      c.header('Content-Type', 'application/octet-stream');
      c.header(
        'Content-Disposition',
        `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`,
      );
      c.header('Content-Security-Policy', "default-src 'none'; sandbox");
      c.header('Cache-Control', 'no-store, max-age=0');
      c.header('Referrer-Policy', 'no-referrer');
      c.header('X-Content-Type-Options', 'nosniff');
      return c.body(Buffer.from(a.contentBase64, 'base64'));
    });
  },
};
