// A hand-written fake of Apps Script's CardService for the widgets and responses the add-on uses.
// Builders record what they are given; `build()` validates the way the real service does and
// returns a plain tree tests can inspect. Validation rules follow the CardService reference
// (developers.google.com/apps-script/reference/card-service):
//   - Action.setParameters: "Both keys and values must be strings."
//   - TextInput / SelectionInput: a field name is required (the form key in event.formInputs).
//   - TextButton: needs text, and exactly one of setOnClickAction, setOpenLink,
//     setOnClickOpenLinkAction, setAuthorizationAction, setComposeAction ("A button can only have
//     one of …").
//   - DecoratedText, TextParagraph: text required; Image: an image URL required.
//   - CardSection: at least one widget; Card: at least one section; CardHeader: a title.
//   - ActionResponse / UpdateDraftActionResponse / ComposeActionResponse: build() "validates it"
//     and throws when nothing is set.
// An invalid card throws at build(), as the real builder's build() does, with a message that
// names the problem (the real one says e.g. "Missing required field: fieldName" style texts).

export class CardValidationError extends Error {
  override name = 'CardValidationError';
}

function fail(message: string): never {
  throw new CardValidationError(message);
}

export type TreeNode = { kind: string } & Record<string, unknown>;

interface Widget {
  toTree(): TreeNode;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') fail(`${what} is required`);
  return value;
}

/** Set at all (an empty string is accepted, as by the real builders' text setters). */
function requireSet(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(`${what} is required`);
  return value;
}

function requireArgString(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(`${what} must be a string (got ${typeof value})`);
  return value;
}

export const Enums = {
  SelectionInputType: {
    CHECK_BOX: 'CHECK_BOX',
    RADIO_BUTTON: 'RADIO_BUTTON',
    DROPDOWN: 'DROPDOWN',
    SWITCH: 'SWITCH',
  },
  TextButtonStyle: { OUTLINED: 'OUTLINED', TEXT: 'TEXT', FILLED: 'FILLED', FILLED_TONAL: 'FILLED_TONAL' },
  ContentType: { TEXT: 'TEXT', MUTABLE_HTML: 'MUTABLE_HTML', IMMUTABLE_HTML: 'IMMUTABLE_HTML' },
  UpdateDraftBodyType: {
    IN_PLACE_INSERT: 'IN_PLACE_INSERT',
    INSERT_AT_START: 'INSERT_AT_START',
    INSERT_AT_END: 'INSERT_AT_END',
  },
  ComposedEmailType: { REPLY_AS_DRAFT: 'REPLY_AS_DRAFT', STANDALONE_DRAFT: 'STANDALONE_DRAFT' },
} as const;

function oneOf<T extends Record<string, string>>(e: T, value: unknown, what: string): string {
  if (typeof value !== 'string' || !Object.values(e).includes(value)) fail(`${what}: not a valid enum value`);
  return value;
}

export class FakeAction {
  private functionName?: string;
  private parameters: Record<string, string> = {};
  setFunctionName(name: string) {
    this.functionName = requireArgString(name, 'Action function name');
    return this;
  }
  setParameters(params: Record<string, unknown>) {
    const copy: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      if (typeof v !== 'string') fail(`Action parameter ${k}: keys and values must be strings`);
      copy[k] = v;
    }
    this.parameters = copy;
    return this;
  }
  toTree(): TreeNode {
    return {
      kind: 'Action',
      functionName: requireString(this.functionName, 'Action function name'),
      parameters: { ...this.parameters },
    };
  }
}

abstract class Clickable {
  protected handlers: { type: string; tree: () => TreeNode }[] = [];
  setOnClickAction(a: FakeAction) {
    if (!(a instanceof FakeAction)) fail('setOnClickAction expects an Action');
    this.handlers.push({ type: 'onClickAction', tree: () => a.toTree() });
    return this;
  }
  setOpenLink(link: FakeOpenLink) {
    if (!(link instanceof FakeOpenLink)) fail('setOpenLink expects an OpenLink');
    this.handlers.push({ type: 'openLink', tree: () => link.toTree() });
    return this;
  }
  setComposeAction(a: FakeAction, type: string) {
    if (!(a instanceof FakeAction)) fail('setComposeAction expects an Action');
    const t = oneOf(Enums.ComposedEmailType, type, 'ComposedEmailType');
    this.handlers.push({ type: 'composeAction', tree: () => ({ ...a.toTree(), composedEmailType: t }) });
    return this;
  }
  protected handlerTree(required: boolean, what: string): Record<string, TreeNode> {
    if (this.handlers.length > 1)
      fail(`${what} can only have one of setOnClickAction, setOpenLink, setComposeAction`);
    const h = this.handlers[0];
    if (h === undefined) {
      if (required) fail(`${what} needs an action or a link`);
      return {};
    }
    return { [h.type]: h.tree() };
  }
}

export class FakeOpenLink {
  private url?: string;
  setUrl(url: string) {
    this.url = requireArgString(url, 'OpenLink URL');
    return this;
  }
  toTree(): TreeNode {
    return { kind: 'OpenLink', url: requireString(this.url, 'OpenLink URL') };
  }
}

export class FakeTextButton extends Clickable implements Widget {
  private text?: string;
  private style?: string;
  private disabled = false;
  setText(text: string) {
    this.text = requireArgString(text, 'TextButton text');
    return this;
  }
  setTextButtonStyle(style: string) {
    this.style = oneOf(Enums.TextButtonStyle, style, 'TextButtonStyle');
    return this;
  }
  setDisabled(d: boolean) {
    this.disabled = d;
    return this;
  }
  toTree(): TreeNode {
    return {
      kind: 'TextButton',
      text: requireSet(this.text, 'TextButton text'),
      style: this.style ?? 'OUTLINED',
      disabled: this.disabled,
      ...this.handlerTree(true, 'TextButton'),
    };
  }
}

export class FakeButtonSet implements Widget {
  private buttons: FakeTextButton[] = [];
  addButton(b: FakeTextButton) {
    if (!(b instanceof FakeTextButton)) fail('ButtonSet.addButton expects a Button');
    this.buttons.push(b);
    return this;
  }
  toTree(): TreeNode {
    if (this.buttons.length === 0) fail('ButtonSet needs at least one button');
    return { kind: 'ButtonSet', buttons: this.buttons.map((b) => b.toTree()) };
  }
}

export class FakeTextParagraph implements Widget {
  private text?: string;
  setText(text: string) {
    this.text = requireArgString(text, 'TextParagraph text');
    return this;
  }
  toTree(): TreeNode {
    return { kind: 'TextParagraph', text: requireSet(this.text, 'TextParagraph text') };
  }
}

export class FakeDecoratedText extends Clickable implements Widget {
  private props: { text?: string; topLabel?: string; bottomLabel?: string; wrapText: boolean } = {
    wrapText: false,
  };
  setText(t: string) {
    this.props.text = requireArgString(t, 'DecoratedText text');
    return this;
  }
  setTopLabel(t: string) {
    this.props.topLabel = requireArgString(t, 'DecoratedText top label');
    return this;
  }
  setBottomLabel(t: string) {
    this.props.bottomLabel = requireArgString(t, 'DecoratedText bottom label');
    return this;
  }
  setWrapText(w: boolean) {
    this.props.wrapText = w;
    return this;
  }
  toTree(): TreeNode {
    return {
      kind: 'DecoratedText',
      text: requireSet(this.props.text, 'DecoratedText text'),
      topLabel: this.props.topLabel,
      bottomLabel: this.props.bottomLabel,
      wrapText: this.props.wrapText,
      ...this.handlerTree(false, 'DecoratedText'),
    };
  }
}

export class FakeTextInput implements Widget {
  private props: { fieldName?: string; title?: string; value?: string; hint?: string; multiline: boolean } = {
    multiline: false,
  };
  setFieldName(n: string) {
    this.props.fieldName = requireArgString(n, 'TextInput field name');
    return this;
  }
  setTitle(t: string) {
    this.props.title = requireArgString(t, 'TextInput title');
    return this;
  }
  setValue(v: string) {
    this.props.value = requireArgString(v, 'TextInput value');
    return this;
  }
  setHint(h: string) {
    this.props.hint = requireArgString(h, 'TextInput hint');
    return this;
  }
  setMultiline(m: boolean) {
    this.props.multiline = m;
    return this;
  }
  toTree(): TreeNode {
    return {
      kind: 'TextInput',
      ...this.props,
      fieldName: requireString(this.props.fieldName, 'TextInput field name'),
    };
  }
}

export class FakeSelectionInput implements Widget {
  private fieldName?: string;
  private title?: string;
  private type?: string;
  private items: { text: string; value: string; selected: boolean }[] = [];
  setFieldName(n: string) {
    this.fieldName = requireArgString(n, 'SelectionInput field name');
    return this;
  }
  setTitle(t: string) {
    this.title = requireArgString(t, 'SelectionInput title');
    return this;
  }
  setType(t: string) {
    this.type = oneOf(Enums.SelectionInputType, t, 'SelectionInputType');
    return this;
  }
  addItem(text: unknown, value: unknown, selected: boolean) {
    // The reference types text and value as Object but renders them as strings.
    this.items.push({ text: String(text), value: String(value), selected: selected === true });
    return this;
  }
  toTree(): TreeNode {
    if (this.items.length === 0) fail('SelectionInput needs at least one item');
    if (this.type === 'RADIO_BUTTON' || this.type === 'DROPDOWN') {
      if (this.items.filter((i) => i.selected).length > 1) fail('Only one item can be selected');
    }
    return {
      kind: 'SelectionInput',
      fieldName: requireString(this.fieldName, 'SelectionInput field name'),
      title: this.title,
      type: this.type ?? 'CHECK_BOX',
      items: this.items.map((i) => ({ ...i })),
    };
  }
}

export class FakeImage extends Clickable implements Widget {
  private url?: string;
  private alt?: string;
  setImageUrl(url: string) {
    this.url = requireArgString(url, 'Image URL');
    return this;
  }
  setAltText(alt: string) {
    this.alt = requireArgString(alt, 'Image alt text');
    return this;
  }
  toTree(): TreeNode {
    const url = requireString(this.url, 'Image URL');
    // Card images are fetched by Google's image proxy, which needs an absolute http(s) URL.
    if (!/^https?:\/\//.test(url)) fail('Image URL must be an absolute http(s) URL');
    return { kind: 'Image', imageUrl: url, altText: this.alt, ...this.handlerTree(false, 'Image') };
  }
}

export class FakeDivider implements Widget {
  toTree(): TreeNode {
    return { kind: 'Divider' };
  }
}

const WIDGET_CLASSES = [
  FakeTextButton,
  FakeButtonSet,
  FakeTextParagraph,
  FakeDecoratedText,
  FakeTextInput,
  FakeSelectionInput,
  FakeImage,
  FakeDivider,
];

export class FakeCardSection {
  private header?: string;
  private widgets: Widget[] = [];
  private collapsible = false;
  setHeader(h: string) {
    this.header = requireArgString(h, 'CardSection header');
    return this;
  }
  setCollapsible(c: boolean) {
    this.collapsible = c;
    return this;
  }
  addWidget(w: Widget) {
    if (!WIDGET_CLASSES.some((C) => w instanceof C)) fail('CardSection.addWidget expects a widget');
    this.widgets.push(w);
    return this;
  }
  toTree(): TreeNode {
    if (this.widgets.length === 0) fail('A card section must contain at least one widget');
    return {
      kind: 'CardSection',
      header: this.header,
      collapsible: this.collapsible,
      widgets: this.widgets.map((w) => w.toTree()),
    };
  }
}

export class FakeCardHeader {
  private props: { title?: string; subtitle?: string; imageUrl?: string } = {};
  setTitle(t: string) {
    this.props.title = requireArgString(t, 'CardHeader title');
    return this;
  }
  setSubtitle(t: string) {
    this.props.subtitle = requireArgString(t, 'CardHeader subtitle');
    return this;
  }
  setImageUrl(u: string) {
    this.props.imageUrl = requireArgString(u, 'CardHeader image URL');
    return this;
  }
  toTree(): TreeNode {
    return { kind: 'CardHeader', ...this.props, title: requireSet(this.props.title, 'CardHeader title') };
  }
}

/** What CardBuilder.build() returns: an opaque Card in Apps Script, the validated tree here. */
export class FakeCard {
  constructor(readonly tree: TreeNode) {}
  printJson(): string {
    return JSON.stringify(this.tree);
  }
}

export class FakeCardBuilder {
  private header?: FakeCardHeader;
  private name?: string;
  private sections: FakeCardSection[] = [];
  setHeader(h: FakeCardHeader) {
    if (!(h instanceof FakeCardHeader)) fail('setHeader expects a CardHeader');
    this.header = h;
    return this;
  }
  setName(n: string) {
    this.name = requireArgString(n, 'Card name');
    return this;
  }
  addSection(s: FakeCardSection) {
    if (!(s instanceof FakeCardSection)) fail('addSection expects a CardSection');
    this.sections.push(s);
    return this;
  }
  build(): FakeCard {
    if (this.sections.length === 0) fail('A card must contain at least one section');
    return new FakeCard({
      kind: 'Card',
      name: this.name,
      header: this.header?.toTree(),
      sections: this.sections.map((s) => s.toTree()),
    });
  }
}

export class FakeNotification {
  private text?: string;
  setText(t: string) {
    this.text = requireArgString(t, 'Notification text');
    return this;
  }
  toTree(): TreeNode {
    return { kind: 'Notification', text: requireSet(this.text, 'Notification text') };
  }
}

export class FakeNavigation {
  private ops: TreeNode[] = [];
  pushCard(c: FakeCard) {
    if (!(c instanceof FakeCard)) fail('pushCard expects a built Card');
    this.ops.push({ kind: 'pushCard', card: c.tree });
    return this;
  }
  updateCard(c: FakeCard) {
    if (!(c instanceof FakeCard)) fail('updateCard expects a built Card');
    this.ops.push({ kind: 'updateCard', card: c.tree });
    return this;
  }
  popCard() {
    this.ops.push({ kind: 'popCard' });
    return this;
  }
  popToRoot() {
    this.ops.push({ kind: 'popToRoot' });
    return this;
  }
  toTree(): TreeNode {
    if (this.ops.length === 0) fail('Navigation has no operation');
    return { kind: 'Navigation', ops: this.ops };
  }
}

export class FakeActionResponse {
  constructor(readonly tree: TreeNode) {}
}

export class FakeActionResponseBuilder {
  private navigation?: FakeNavigation;
  private notification?: FakeNotification;
  private openLink?: FakeOpenLink;
  setNavigation(n: FakeNavigation) {
    if (!(n instanceof FakeNavigation)) fail('setNavigation expects a Navigation');
    this.navigation = n;
    return this;
  }
  setNotification(n: FakeNotification) {
    if (!(n instanceof FakeNotification)) fail('setNotification expects a Notification');
    this.notification = n;
    return this;
  }
  setOpenLink(l: FakeOpenLink) {
    this.openLink = l;
    return this;
  }
  build(): FakeActionResponse {
    if (!this.navigation && !this.notification && !this.openLink) fail('ActionResponse has nothing set');
    return new FakeActionResponse({
      kind: 'ActionResponse',
      navigation: this.navigation?.toTree(),
      notification: this.notification?.toTree(),
      openLink: this.openLink?.toTree(),
    });
  }
}

export class FakeUpdateDraftBodyAction {
  private contents: { content: string; contentType: string }[] = [];
  private type?: string;
  addUpdateContent(content: string, contentType: string) {
    this.contents.push({
      content: requireArgString(content, 'Draft content'),
      contentType: oneOf(Enums.ContentType, contentType, 'ContentType'),
    });
    return this;
  }
  setUpdateType(t: string) {
    this.type = oneOf(Enums.UpdateDraftBodyType, t, 'UpdateDraftBodyType');
    return this;
  }
  toTree(): TreeNode {
    if (this.contents.length === 0) fail('UpdateDraftBodyAction has no content');
    return {
      kind: 'UpdateDraftBodyAction',
      contents: this.contents,
      updateType: requireString(this.type, 'Update type'),
    };
  }
}

export class FakeUpdateDraftSubjectAction {
  private subject?: string;
  addUpdateSubject(s: string) {
    this.subject = requireArgString(s, 'Draft subject');
    return this;
  }
  toTree(): TreeNode {
    return { kind: 'UpdateDraftSubjectAction', subject: requireSet(this.subject, 'Draft subject') };
  }
}

export class FakeUpdateDraftActionResponse {
  constructor(readonly tree: TreeNode) {}
}

export class FakeUpdateDraftActionResponseBuilder {
  private body?: FakeUpdateDraftBodyAction;
  private subject?: FakeUpdateDraftSubjectAction;
  setUpdateDraftBodyAction(a: FakeUpdateDraftBodyAction) {
    if (!(a instanceof FakeUpdateDraftBodyAction)) fail('expects an UpdateDraftBodyAction');
    this.body = a;
    return this;
  }
  setUpdateDraftSubjectAction(a: FakeUpdateDraftSubjectAction) {
    if (!(a instanceof FakeUpdateDraftSubjectAction)) fail('expects an UpdateDraftSubjectAction');
    this.subject = a;
    return this;
  }
  build(): FakeUpdateDraftActionResponse {
    if (!this.body && !this.subject) fail('UpdateDraftActionResponse has nothing set');
    return new FakeUpdateDraftActionResponse({
      kind: 'UpdateDraftActionResponse',
      body: this.body?.toTree(),
      subject: this.subject?.toTree(),
    });
  }
}

export class FakeComposeActionResponse {
  constructor(
    readonly tree: TreeNode,
    readonly draft: unknown,
  ) {}
}

export class FakeComposeActionResponseBuilder {
  private draft?: unknown;
  setGmailDraft(d: unknown) {
    this.draft = d;
    return this;
  }
  build(): FakeComposeActionResponse {
    if (this.draft === undefined || this.draft === null) fail('ComposeActionResponse needs a Gmail draft');
    return new FakeComposeActionResponse({ kind: 'ComposeActionResponse' }, this.draft);
  }
}

export function createCardService() {
  return {
    ...Enums,
    newAction: () => new FakeAction(),
    newOpenLink: () => new FakeOpenLink(),
    newTextButton: () => new FakeTextButton(),
    newButtonSet: () => new FakeButtonSet(),
    newTextParagraph: () => new FakeTextParagraph(),
    newDecoratedText: () => new FakeDecoratedText(),
    newTextInput: () => new FakeTextInput(),
    newSelectionInput: () => new FakeSelectionInput(),
    newImage: () => new FakeImage(),
    newDivider: () => new FakeDivider(),
    newCardSection: () => new FakeCardSection(),
    newCardHeader: () => new FakeCardHeader(),
    newCardBuilder: () => new FakeCardBuilder(),
    newNotification: () => new FakeNotification(),
    newNavigation: () => new FakeNavigation(),
    newActionResponseBuilder: () => new FakeActionResponseBuilder(),
    newUpdateDraftActionResponseBuilder: () => new FakeUpdateDraftActionResponseBuilder(),
    newUpdateDraftBodyAction: () => new FakeUpdateDraftBodyAction(),
    newUpdateDraftSubjectAction: () => new FakeUpdateDraftSubjectAction(),
    newComposeActionResponseBuilder: () => new FakeComposeActionResponseBuilder(),
  };
}

// ---- helpers for assertions -------------------------------------------------------------

/** Every node of a tree (depth first), for `find`-style assertions. */
export function walk(node: unknown, out: TreeNode[] = []): TreeNode[] {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, out);
  } else if (typeof node === 'object' && node !== null) {
    if ('kind' in node && typeof (node as TreeNode).kind === 'string') out.push(node as TreeNode);
    for (const v of Object.values(node)) walk(v, out);
  }
  return out;
}

export function findAll(node: unknown, kind: string): TreeNode[] {
  return walk(node).filter((n) => n.kind === kind);
}

/** All visible text of a tree, joined: titles, labels, paragraphs, button texts. */
export function textOf(node: unknown): string {
  const parts: string[] = [];
  for (const n of walk(node)) {
    for (const key of ['title', 'subtitle', 'header', 'text', 'topLabel', 'bottomLabel']) {
      const v = n[key];
      if (typeof v === 'string') parts.push(v);
    }
  }
  return parts.join('\n');
}

export function treeOf(x: unknown): TreeNode {
  if (x instanceof FakeCard || x instanceof FakeActionResponse || x instanceof FakeUpdateDraftActionResponse)
    return x.tree;
  if (x instanceof FakeComposeActionResponse) return x.tree;
  // Objects from another realm (the vm-loaded bundle uses these same classes, so this is rare).
  if (typeof x === 'object' && x !== null && 'tree' in x) return (x as { tree: TreeNode }).tree;
  throw new Error('not a built card or response');
}
