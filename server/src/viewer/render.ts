import { escapeHtml } from '../delivery/mime.ts';

// Server-rendered pages of the patient's viewer. Every dynamic value is escaped here except the
// message HTML, which arrives already sanitized (sanitize.ts). Styles and the one small script carry
// the response's CSP nonce; nothing else can run or style the page.

/** How long the page must be visible before the open beacon is sent. */
export const OPEN_DWELL_MS = 500;

const CSS = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f3f5f8}
header{background:#24406e;color:#fff;padding:14px 20px}header h1{margin:0;font-size:18px;font-weight:600}
main{max-width:760px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:20px 24px;margin-bottom:18px}
.meta{color:#5b6475;font-size:14px;margin:0 0 12px}.subject{font-size:20px;margin:0 0 4px}
.body{overflow-wrap:anywhere}.text{white-space:pre-wrap}.body img{max-width:100%}
.body table{border-collapse:collapse}.body td,.body th{border:1px solid #d6dbe3;padding:4px 8px}
ul.files{padding-left:18px}textarea{width:100%;min-height:140px;font:inherit;padding:10px;border:1px solid #b9c1cf;border-radius:6px}
input[type=text]{font:inherit;font-size:22px;letter-spacing:4px;padding:8px 10px;width:12em;border:1px solid #b9c1cf;border-radius:6px}
button{font:inherit;background:#24406e;color:#fff;border:0;border-radius:6px;padding:9px 18px;cursor:pointer;margin-top:10px}
button.link{background:none;color:#24406e;padding:0;text-decoration:underline}
.note{background:#e8f4ea;border-left:4px solid #2e7d32;padding:10px 14px;border-radius:4px}
.warn{background:#fdecea;border-left:4px solid #c62828;padding:10px 14px;border-radius:4px}
footer{color:#6b7384;font-size:13px;text-align:center;margin:28px 0}
`;

// Disables a form's button once submitted, so a double click does not send a reply twice. And the
// open beacon: mail scanners and link prefetchers fetch links without a person, so the server
// records the first open only when this script has run and the page has been visible for a moment
// (a person looking at it); it then posts the page's signed token, once, same-origin.
const SCRIPT = `document.querySelectorAll('form').forEach(function(f){f.addEventListener('submit',function(){var b=f.querySelector('button[type=submit]');if(b){setTimeout(function(){b.disabled=true},0)}})});
(function(){var e=document.querySelector('main>#attune-open');if(!e)return;var sent=false,timer=0;
function send(){if(sent||document.visibilityState!=='visible')return;sent=true;
fetch(e.getAttribute('data-action'),{method:'POST',credentials:'same-origin',keepalive:true,headers:{'content-type':'application/x-www-form-urlencoded'},body:'t='+encodeURIComponent(e.getAttribute('data-token'))}).then(function(r){if(r.status>=500||r.status===429)sent=false}).catch(function(){sent=false})}
function arm(){clearTimeout(timer);if(document.visibilityState==='visible')timer=setTimeout(send,${OPEN_DWELL_MS})}
document.addEventListener('visibilitychange',arm);if(document.readyState==='complete')arm();else window.addEventListener('load',arm)})();`;

export function page(opts: { nonce: string; title: string; practiceName: string; body: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><meta name="robots" content="noindex,nofollow">
<title>${escapeHtml(opts.title)}</title><style nonce="${opts.nonce}">${CSS}</style></head>
<body><header><h1>${escapeHtml(opts.practiceName)}</h1></header><main>${opts.body}</main>
<footer>Secure message service. This page is not stored by your browser.</footer>
<script nonce="${opts.nonce}">${SCRIPT}</script></body></html>`;
}

export interface MessageView {
  subject: string;
  sentAt: string;
  /** Already sanitized HTML, or null to show `text`. */
  safeHtml: string | null;
  text: string | null;
  attachments: Array<{ filename: string; size: number; href: string }>;
  replyAction: string;
  csrf: string;
  /** Where the page's script reports that a person has it open, and the page's signed token. */
  openAction: string;
  openToken: string;
  replied: boolean;
  expiresAt: string;
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function messageBody(v: MessageView, practiceName: string): string {
  const content =
    v.safeHtml !== null
      ? `<div class="body">${v.safeHtml}</div>`
      : `<div class="body text">${escapeHtml(v.text ?? '')}</div>`;
  const files =
    v.attachments.length === 0
      ? ''
      : `<h3>Attachments</h3><ul class="files">${v.attachments
          .map(
            (a) =>
              `<li><a href="${escapeHtml(a.href)}" rel="noreferrer" download>${escapeHtml(a.filename)}</a> (${size(a.size)})</li>`,
          )
          .join('')}</ul>`;
  const thanks = v.replied
    ? `<p class="note" role="status">Your reply was sent securely to ${escapeHtml(practiceName)}.</p>`
    : '';
  return `${thanks}<article class="card"><h2 class="subject">${escapeHtml(v.subject || '(no subject)')}</h2>
<p class="meta">From ${escapeHtml(practiceName)} &middot; ${escapeHtml(new Date(v.sentAt).toUTCString())}</p>${content}${files}</article>
<section class="card"><h3>Reply securely</h3>
<form method="post" action="${escapeHtml(v.replyAction)}"><input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}">
<label for="reply">Your reply goes only to ${escapeHtml(practiceName)}, encrypted.</label>
<textarea id="reply" name="text" maxlength="20000" required></textarea>
<button type="submit">Send reply</button></form>
<p class="meta">If you are in crisis or thinking about harming yourself, call or text 988 (US), or your local emergency number, now. Messages here are not watched around the clock.</p></section>
<p class="meta">This link works until ${escapeHtml(new Date(v.expiresAt).toUTCString())}.</p>
<div id="attune-open" hidden data-action="${escapeHtml(v.openAction)}" data-token="${escapeHtml(v.openToken)}"></div>`;
}

export function codeBody(opts: {
  sendAction: string;
  verifyAction: string;
  csrf: string;
  sent: boolean;
  error: string | null;
  locked: boolean;
}): string {
  const status = opts.error
    ? `<p class="warn" role="alert">${escapeHtml(opts.error)}</p>`
    : opts.sent
      ? `<p class="note" role="status">We emailed you a one-time code. It works for 10 minutes.</p>`
      : '';
  return `<section class="card"><h2>Confirm it is you</h2>
<p>To open this secure message, enter the one-time code we email to you.</p>${status}
<form method="post" action="${escapeHtml(opts.sendAction)}"><input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<button type="submit">${opts.sent ? 'Email me a new code' : 'Email me a code'}</button></form>
${
  opts.locked
    ? ''
    : `<form method="post" action="${escapeHtml(opts.verifyAction)}"><input type="hidden" name="csrf" value="${escapeHtml(opts.csrf)}">
<p><label for="code">One-time code</label><br><input id="code" type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" maxlength="12" required></p>
<button type="submit">Open message</button></form>`
}</section>`;
}

export function infoBody(title: string, text: string): string {
  return `<section class="card"><h2>${escapeHtml(title)}</h2><p>${escapeHtml(text)}</p></section>`;
}
