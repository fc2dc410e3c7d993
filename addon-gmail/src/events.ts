// Reading the add-on event object. V8 add-ons get `commonEventObject.formInputs` and
// `commonEventObject.parameters`; the older top-level `formInputs`/`parameters` are read as a
// fallback so the same code works when Gmail sends either shape.

export type AddonEvent = GoogleAppsScript.Addons.EventObject & {
  formInputs?: Record<string, string[] | undefined>;
  parameters?: Record<string, string | undefined>;
};

export function formValues(e: AddonEvent, field: string): string[] {
  const fromCommon = e.commonEventObject?.formInputs?.[field]?.stringInputs?.value;
  if (Array.isArray(fromCommon)) return fromCommon.filter((v): v is string => typeof v === 'string');
  const legacy = e.formInputs?.[field];
  return Array.isArray(legacy) ? legacy.filter((v): v is string => typeof v === 'string') : [];
}

export function formValue(e: AddonEvent, field: string): string {
  return formValues(e, field)[0] ?? '';
}

export function param(e: AddonEvent, name: string): string | undefined {
  const v = e.commonEventObject?.parameters?.[name] ?? e.parameters?.[name];
  return typeof v === 'string' ? v : undefined;
}

/** "Dr A <a@x.org>" → "a@x.org"; a bare address passes through; anything else → null. */
export function addressOf(raw: string): string | null {
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(raw);
  const candidate = (angle ? angle[1] : raw)?.trim().toLowerCase() ?? '';
  return /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(candidate) ? candidate : null;
}

export function addresses(list: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (const item of list ?? []) {
    const a = addressOf(item);
    if (a !== null && !out.includes(a)) out.push(a);
  }
  return out;
}
