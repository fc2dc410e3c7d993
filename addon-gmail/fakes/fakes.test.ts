// The fakes must reject what the real services reject, or the card tests above prove nothing.
import { describe, expect, it } from 'vitest';
import {
  CardValidationError,
  createCardService,
  createUrlFetchApp,
  json,
  NetworkDown,
  createGmailApp,
  createPropertiesService,
} from './index.ts';

const CS = createCardService();

function cardWith(widget: Parameters<ReturnType<typeof CS.newCardSection>['addWidget']>[0]) {
  return CS.newCardBuilder().addSection(CS.newCardSection().addWidget(widget)).build();
}

describe('fake CardService validates like the real one', () => {
  it('rejects a TextInput without a field name', () => {
    expect(() => cardWith(CS.newTextInput().setTitle('Message'))).toThrow(CardValidationError);
  });

  it('rejects a button without an action or link, and one with two', () => {
    expect(() => cardWith(CS.newTextButton().setText('Go'))).toThrow(/needs an action or a link/);
    const both = CS.newTextButton()
      .setText('Go')
      .setOnClickAction(CS.newAction().setFunctionName('a'))
      .setOpenLink(CS.newOpenLink().setUrl('https://x.test'));
    expect(() => cardWith(both)).toThrow(/only have one/);
  });

  it('rejects non-string action parameters and an action without a function name', () => {
    expect(() => CS.newAction().setParameters({ page: 2 })).toThrow(/must be strings/);
    const noName = CS.newTextButton().setText('Go').setOnClickAction(CS.newAction());
    expect(() => cardWith(noName)).toThrow(/function name/);
  });

  it('rejects empty sections and cards, and a selection input without items', () => {
    expect(() => CS.newCardBuilder().build()).toThrow(/at least one section/);
    expect(() => CS.newCardBuilder().addSection(CS.newCardSection()).build()).toThrow(/at least one widget/);
    expect(() =>
      cardWith(CS.newSelectionInput().setFieldName('t').setType(CS.SelectionInputType.CHECK_BOX)),
    ).toThrow(/item/);
  });

  it('rejects an unknown enum value and an empty response', () => {
    expect(() => CS.newUpdateDraftBodyAction().addUpdateContent('x', 'HTML')).toThrow(/enum/);
    expect(() => CS.newActionResponseBuilder().build()).toThrow(/nothing set/);
    expect(() => CS.newUpdateDraftActionResponseBuilder().build()).toThrow(/nothing set/);
    expect(() => CS.newComposeActionResponseBuilder().build()).toThrow(/draft/);
  });

  it('records a valid card as a tree', () => {
    const card = cardWith(CS.newTextParagraph().setText('<b>hi</b>'));
    expect(card.tree).toEqual({
      kind: 'Card',
      name: undefined,
      header: undefined,
      sections: [expect.objectContaining({ widgets: [{ kind: 'TextParagraph', text: '<b>hi</b>' }] })],
    });
  });
});

describe('fake UrlFetchApp follows muteHttpExceptions semantics', () => {
  it('throws on 4xx/5xx unless muteHttpExceptions is set, and then returns the response', () => {
    const app = createUrlFetchApp(() => json(401, { error: { code: 'unauthenticated', message: 'no' } }));
    expect(() => app.fetch('https://a.test/x')).toThrow(/returned code 401/);
    const res = app.fetch('https://a.test/x', { muteHttpExceptions: true });
    expect(res.getResponseCode()).toBe(401);
    expect(JSON.parse(res.getContentText())).toEqual({ error: { code: 'unauthenticated', message: 'no' } });
  });

  it('throws on network failure whatever muteHttpExceptions says, naming the URL', () => {
    const app = createUrlFetchApp(() => {
      throw new NetworkDown();
    });
    expect(() => app.fetch('https://a.test/secret', { muteHttpExceptions: true })).toThrow(
      /Address unavailable: https:\/\/a.test\/secret/,
    );
  });

  it('defaults to GET and form-encodes an object payload; enforces the whitelist', () => {
    const app = createUrlFetchApp(() => ({ status: 200 }), { whitelist: ['https://a.test/'] });
    app.fetch('https://a.test/x');
    app.fetch('https://a.test/y', { method: 'post', payload: { a: '1 2' } });
    expect(app.requests.map((r) => [r.method, r.contentType, r.payload])).toEqual([
      ['GET', undefined, undefined],
      ['POST', 'application/x-www-form-urlencoded', 'a=1%202'],
    ]);
    expect(() => app.fetch('https://a.test.evil.org/')).toThrow(/not permitted/);
  });
});

describe('fake GmailApp and PropertiesService', () => {
  it('reads a message only with its per-message access token', () => {
    const gmail = createGmailApp([{ id: 'm', accessToken: 'tok', from: 'A <a@x.org>' }]);
    expect(() => gmail.getMessageById('m')).toThrow(/Missing access token/);
    gmail.setCurrentMessageAccessToken('tok');
    expect(gmail.getMessageById('m').getFrom()).toBe('A <a@x.org>');
  });

  it("reads a message's text only under a scope that grants its content", () => {
    const spec = [{ id: 'm', accessToken: 'tok', from: 'a@x.org', subject: 'S', body: 'Text' }];
    const metadataOnly = createGmailApp(spec, {
      scopes: ['https://www.googleapis.com/auth/gmail.addons.current.message.metadata'],
    });
    metadataOnly.setCurrentMessageAccessToken('tok');
    expect(metadataOnly.getMessageById('m').getSubject()).toBe('S');
    expect(() => metadataOnly.getMessageById('m').getPlainBody()).toThrow(/permissions are not sufficient/);
    const readonly = createGmailApp(spec, {
      scopes: ['https://www.googleapis.com/auth/gmail.addons.current.message.readonly'],
    });
    readonly.setCurrentMessageAccessToken('tok');
    expect(readonly.getMessageById('m').getPlainBody()).toBe('Text');
    expect(readonly.bodiesRead).toEqual(['m']);
  });

  it('returns null for a missing property', () => {
    expect(createPropertiesService().getScriptProperties().getProperty('NOPE')).toBeNull();
  });
});
