// Entry of the send-handler bundle (dist/launchevent.js): one classic script, loaded by the HTML
// runtime page (web, new Outlook, Mac) and directly by classic Outlook's JavaScript-only runtime.
import { createApiClient } from '../core/api-client.ts';
import {
  cachedTokenProvider,
  chainTokenProviders,
  devTokenProvider,
  naaTokenProvider,
  officeRuntimeTokenProvider,
} from '../core/auth.ts';
import type { TokenProvider } from '../core/auth.ts';
import { runtimeConfig } from '../core/config.ts';
import { composeItem } from '../core/draft.ts';
import { createPolicySource } from '../core/policy-source.ts';
import { createOnMessageSend } from './on-send.ts';

const config = runtimeConfig();
const providers: TokenProvider[] = [
  naaTokenProvider({ clientId: config.clientId, scope: config.apiScope, interactive: false }),
  officeRuntimeTokenProvider(),
];
if (config.devAuth) {
  providers.push(
    devTokenProvider({
      baseUrl: config.baseUrl,
      email: () => Office.context.mailbox.userProfile.emailAddress,
    }),
  );
}
const api = createApiClient({
  baseUrl: config.baseUrl,
  getToken: cachedTokenProvider(chainTokenProviders(providers), 5 * 60_000),
});

const onMessageSend = createOnMessageSend({ api, policy: createPolicySource(api), item: composeItem });
// The handler settles through event.completed; Office ignores the return value.
Office.actions.associate('attuneOnMessageSend', (event: Office.MailboxEvent) => {
  void onMessageSend(event);
});
