import { afterEach, describe, expect, it } from 'vitest';
import { CaseloadSchema } from '@attune/shared/api';
import {
  createFakeEnv,
  findAll,
  installGlobals,
  json,
  textOf,
  treeOf,
  TEST_SERVER,
  type FakeEnv,
  type Transport,
} from '../fakes/index.ts';
import { caseloadFixture, engagementFixture } from '../fakes/fixtures.ts';
import { router } from '../fakes/router.ts';
import { makeHandlers } from './handlers.ts';
import type { AddonEvent } from './events.ts';

let uninstall: (() => void) | undefined;
afterEach(() => uninstall?.());

function setup(transport: Transport): FakeEnv {
  const env = createFakeEnv({ transport });
  uninstall = installGlobals(env);
  return env;
}

function event(params: Record<string, string> = {}): AddonEvent {
  return {
    commonEventObject: { platform: 'WEB', hostApp: 'GMAIL', parameters: params, formInputs: {} },
  } as unknown as AddonEvent;
}

const handlers = makeHandlers({
  scanner: () => {
    throw new Error('not used');
  },
});

function buttons(tree: unknown) {
  return findAll(tree, 'TextButton').map((b) => ({
    text: b.text,
    action: b.onClickAction as { functionName: string; parameters: Record<string, string> },
  }));
}

describe('home: caseload triage', () => {
  it('lists the first page in rank order, crisis first, each with its reasons, and offers Next', () => {
    const env = setup(
      router(TEST_SERVER, { 'GET /v1/caseload?page=1&pageSize=10': json(200, caseloadFixture(1, 10, 23)) }),
    );
    const [card] = handlers.onHomepage(event());
    const tree = treeOf(card);
    const rows = findAll(tree, 'DecoratedText');
    expect(rows).toHaveLength(10);
    expect(rows[0]?.topLabel).toBe('#1 · CRISIS · declining');
    expect(rows[0]?.text).toContain('Crisis language on 2026-11-19');
    expect(rows[1]?.topLabel).toBe('#2 · steady');
    expect(rows[1]?.text).toContain('Reason for rank 2');
    expect(rows[1]?.onClickAction).toMatchObject({
      functionName: 'onOpenPatient',
      parameters: { patient: 'pat_2' },
    });
    // The card's actions carry references: no row's action holds an address.
    expect(JSON.stringify(rows.map((r) => r.onClickAction))).not.toContain('@');
    expect(textOf(tree)).toContain('page 1 of 3 · 23 patients');
    expect(textOf(tree)).toContain('Ranking is decision support, not diagnosis.');
    expect(buttons(tree)).toEqual([
      { text: 'Next', action: { kind: 'Action', functionName: 'onCaseloadPage', parameters: { page: '2' } } },
    ]);
    expect(env.UrlFetchApp.requests[0]?.url).toBe(`${TEST_SERVER}/v1/caseload?page=1&pageSize=10`);
  });

  it('pages forward and back, with no Next on the last page', () => {
    setup(
      router(TEST_SERVER, {
        'GET /v1/caseload?page=2&pageSize=10': json(200, caseloadFixture(2, 10, 23)),
        'GET /v1/caseload?page=3&pageSize=10': json(200, caseloadFixture(3, 10, 23)),
      }),
    );
    const middle = treeOf(handlers.onCaseloadPage(event({ page: '2' })));
    expect(buttons(middle).map((b) => `${String(b.text)}:${b.action.parameters.page ?? ''}`)).toEqual([
      'Previous:1',
      'Next:3',
    ]);
    expect(findAll(middle, 'DecoratedText')[0]?.topLabel).toBe('#11 · steady');
    const last = treeOf(handlers.onCaseloadPage(event({ page: '3' })));
    expect(buttons(last).map((b) => b.text)).toEqual(['Previous']);
    expect(findAll(last, 'DecoratedText')).toHaveLength(3);
  });

  it('treats a malformed page parameter as page 1', () => {
    const env = setup(
      router(TEST_SERVER, { 'GET /v1/caseload?page=1&pageSize=10': json(200, caseloadFixture(1, 10, 3)) }),
    );
    handlers.onCaseloadPage(event({ page: '-4; drop' }));
    expect(env.UrlFetchApp.requests[0]?.url).toBe(`${TEST_SERVER}/v1/caseload?page=1&pageSize=10`);
  });

  it("opens a patient's insights from the list by id, without a reply check-in (no message is open)", () => {
    const env = setup(
      router(TEST_SERVER, {
        'GET /v1/patients/p2/engagement': json(200, engagementFixture()),
      }),
    );
    const res = treeOf(handlers.onOpenPatient(event({ patient: 'p2' })));
    const op = (res.navigation as { ops: { kind: string; card: unknown }[] }).ops[0];
    expect(op?.kind).toBe('pushCard');
    expect(textOf(op?.card)).toContain('Engagement');
    expect(findAll(op?.card, 'TextButton')).toHaveLength(0);
    expect(env.UrlFetchApp.requests.map((r) => r.url)).toEqual([`${TEST_SERVER}/v1/patients/p2/engagement`]);
  });

  it('still opens a card an earlier version built with the address (by lookup, address in the body)', () => {
    const env = setup(
      router(TEST_SERVER, {
        'POST /v1/engagement/lookup': json(200, engagementFixture()),
      }),
    );
    const res = treeOf(handlers.onOpenPatient(event({ email: 'patient2@example.org' })));
    const op = (res.navigation as { ops: { kind: string; card: unknown }[] }).ops[0];
    expect(textOf(op?.card)).toContain('Engagement');
    expect(env.UrlFetchApp.requests[0]?.url).toBe(`${TEST_SERVER}/v1/engagement/lookup`);
  });

  it("shows 'not a patient' when the id is not one of the caller's patients", () => {
    setup(
      router(TEST_SERVER, {
        'GET /v1/patients/p9/engagement': json(404, {
          error: { code: 'patient_not_found', message: 'No patient with that id in your practice.' },
        }),
      }),
    );
    const res = treeOf(handlers.onOpenPatient(event({ patient: 'p9' })));
    const op = (res.navigation as { ops: { kind: string; card: unknown }[] }).ops[0];
    expect(textOf(op?.card)).toContain('not a patient');
  });

  it('shows a clear card when the token is refused', () => {
    setup(
      router(TEST_SERVER, {
        'GET /v1/caseload?page=1&pageSize=10': json(401, {
          error: { code: 'unauthenticated', message: 'ID token expired.' },
        }),
      }),
    );
    const text = textOf(treeOf(handlers.onHomepage(event())[0]));
    expect(text).toContain('Sign-in refused');
    expect(text).toContain('ID token expired.');
  });

  it('matches the caseload contract with its fixture', () => {
    expect(CaseloadSchema.safeParse(caseloadFixture(1, 10, 23)).success).toBe(true);
  });
});
