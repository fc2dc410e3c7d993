// A faithful fake of the Office.js surface the Attune panes use, for Chromium tests and manual
// checks. Served in place of https://appsforoffice.microsoft.com/lib/1/hosted/office.js; configured
// by window.__ATTUNE_FAKE_OFFICE__ (set before this script runs); records every write in
// window.__officeWrites. Callback shapes follow Office.AsyncResult: { status, value, error }.
(function () {
  var cfg = window.__ATTUNE_FAKE_OFFICE__ || {};
  var writes = (window.__officeWrites = {
    subject: [],
    body: [],
    removedAttachments: [],
    headers: [],
    closed: [],
  });
  var handlers = {};
  function ok(cb, value) {
    if (typeof cb === 'function')
      setTimeout(function () {
        cb({ status: 'succeeded', value: value, error: null });
      }, 0);
  }
  function cbOf(a, b) {
    return typeof a === 'function' ? a : b;
  }
  function stripTags(html) {
    // Like Outlook's Text coercion: block elements end lines.
    var d = new DOMParser().parseFromString(
      (html || '').replace(/<\/(p|div|li|h[1-6])>|<br\s*\/?>/gi, '$&\n'),
      'text/html',
    );
    return (d.body && d.body.textContent) || '';
  }
  function recipients(list) {
    return {
      getAsync: function (a, b) {
        ok(
          cbOf(a, b),
          (list || []).map(function (e) {
            return { emailAddress: e, displayName: e };
          }),
        );
      },
    };
  }
  var state = { subject: cfg.subject || '', html: cfg.html || '' };
  // The item's sessionData (Mailbox 1.11), as a plain object recorded in writes.sessionData;
  // cfg.noSessionData: a host without it.
  var session = (writes.sessionData = {});
  function sessionData() {
    return {
      getAsync: function (name, a, b) {
        var cb = cbOf(a, b);
        if (Object.prototype.hasOwnProperty.call(session, name)) return ok(cb, session[name]);
        // A name never set: answered as a failure (some hosts do), which callers must take as "none".
        setTimeout(function () {
          cb({ status: 'failed', value: '', error: { code: 9999, message: 'not set' } });
        }, 0);
      },
      setAsync: function (name, value, a, b) {
        session[name] = String(value);
        ok(cbOf(a, b));
      },
      removeAsync: function (name, a, b) {
        delete session[name];
        ok(cbOf(a, b));
      },
    };
  }
  function composeItem() {
    return {
      itemType: 'message',
      subject: {
        getAsync: function (a, b) {
          ok(cbOf(a, b), state.subject);
        },
        setAsync: function (v, a, b) {
          state.subject = v;
          writes.subject.push(v);
          ok(cbOf(a, b));
        },
      },
      body: {
        getAsync: function (coercion, a, b) {
          ok(cbOf(a, b), coercion === 'text' ? cfg.text || stripTags(state.html) : state.html);
        },
        setAsync: function (v, opts, cb) {
          state.html = v;
          cfg.text = undefined;
          writes.body.push({ value: v, coercionType: opts && opts.coercionType });
          ok(cb);
        },
      },
      to: recipients(cfg.to),
      cc: recipients(cfg.cc),
      bcc: recipients(cfg.bcc),
      getAttachmentsAsync: function (a, b) {
        ok(
          cbOf(a, b),
          (cfg.attachments || []).map(function (x) {
            return {
              id: x.id,
              name: x.name,
              attachmentType: x.attachmentType || 'file',
              isInline: false,
              size: 10,
            };
          }),
        );
      },
      getAttachmentContentAsync: function (id, a, b) {
        var x =
          (cfg.attachments || []).filter(function (y) {
            return y.id === id;
          })[0] || {};
        ok(cbOf(a, b), { format: x.format || 'base64', content: x.content || '' });
      },
      removeAttachmentAsync: function (id, a, b) {
        writes.removedAttachments.push(id);
        ok(cbOf(a, b));
      },
      internetHeaders: {
        setAsync: function (h, a, b) {
          writes.headers.push(h);
          ok(cbOf(a, b));
        },
      },
      closeAsync: function (opts, cb) {
        // cfg.closeAsyncFails: Outlook refuses to close the item (seen when the draft is being saved).
        if (cfg.closeAsyncFails) {
          writes.closeFailed = (writes.closeFailed || 0) + 1;
          if (typeof cb === 'function')
            setTimeout(function () {
              cb({
                status: 'failed',
                value: undefined,
                error: { code: 9002, name: 'InternalError', message: 'The item could not be closed.' },
              });
            }, 0);
          return;
        }
        writes.closed.push(opts || {});
        ok(cb);
      },
      getInitializationContextAsync: function (a, b) {
        ok(cbOf(a, b), cfg.initializationContext || '');
      },
      sessionData: cfg.noSessionData ? undefined : sessionData(),
      // Mailbox 1.15: a task pane already open gets InitializationContextChanged from Smart Alerts.
      addHandlerAsync: function (type, handler, a, b) {
        handlers[type] = handler;
        ok(cbOf(a, b));
      },
    };
  }
  // The clinician edits the draft's body to `html` while the pane is open (no event: the pane reads
  // the draft again when it sends).
  window.__fakeOfficeEdit = function (html) {
    state.html = html;
    cfg.text = undefined;
  };
  // Smart Alerts blocks Send again and its action is chosen while the pane is open, after the
  // draft was edited to `html`.
  window.__fakeOfficeBlockedAgain = function (html, contextData) {
    state.html = html;
    var h = handlers['olkInitializationContextChanged'];
    if (h) h({ type: 'olkInitializationContextChanged', initializationContextData: contextData });
  };
  function readItem(from) {
    return {
      itemType: 'message',
      from: from ? { emailAddress: from, displayName: from } : undefined,
      subject: cfg.subject || '',
      body: {
        getAsync: function (coercion, a, b) {
          ok(cbOf(a, b), cfg.readBody || '');
        },
      },
    };
  }
  var mailbox = {
    userProfile: { emailAddress: cfg.userEmail || 'clinician@practice.example', displayName: 'Clinician' },
    item: cfg.mode === 'read' ? readItem(cfg.from) : composeItem(),
    addHandlerAsync: function (type, handler, a, b) {
      handlers[type] = handler;
      ok(cbOf(a, b));
    },
  };
  window.__fakeOfficeSelect = function (from) {
    mailbox.item = readItem(from);
    var h = handlers['olkItemSelectedChanged'];
    if (h) h({ type: 'olkItemSelectedChanged' });
  };
  window.Office = {
    onReady: function (cb) {
      return new Promise(function (r) {
        setTimeout(function () {
          var info = { host: 'Outlook', platform: 'OfficeOnline' };
          if (cb) cb(info);
          r(info);
        }, 0);
      });
    },
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    CoercionType: { Html: 'html', Text: 'text' },
    EventType: {
      ItemChanged: 'olkItemSelectedChanged',
      InitializationContextChanged: 'olkInitializationContextChanged',
    },
    MailboxEnums: { SendModeOverride: { PromptUser: 'promptUser' } },
    actions: { associate: function () {} },
    context: {
      mailbox: mailbox,
      officeTheme:
        cfg.theme === 'dark'
          ? { bodyBackgroundColor: '#1f1f1f', bodyForegroundColor: '#ffffff' }
          : cfg.theme === 'light'
            ? { bodyBackgroundColor: '#ffffff', bodyForegroundColor: '#000000' }
            : undefined,
      requirements: {
        isSetSupported: function () {
          return false;
        },
      },
    },
  };
})();
