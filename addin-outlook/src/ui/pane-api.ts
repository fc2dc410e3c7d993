// The API client as the task panes use it: nested app authentication with a popup allowed (the
// panes have a user in front of them), the development issuer when built for development.
import { createApiClient } from '../core/api-client.ts';
import type { ApiClient } from '../core/api-client.ts';
import {
  cachedTokenProvider,
  chainTokenProviders,
  devTokenProvider,
  naaTokenProvider,
} from '../core/auth.ts';
import type { TokenProvider } from '../core/auth.ts';
import { runtimeConfig } from '../core/config.ts';

export function paneApi(): ApiClient {
  const config = runtimeConfig();
  const providers: TokenProvider[] = [
    naaTokenProvider({ clientId: config.clientId, scope: config.apiScope, interactive: true }),
  ];
  if (config.devAuth) {
    providers.push(
      devTokenProvider({
        baseUrl: config.baseUrl,
        email: () => Office.context.mailbox.userProfile.emailAddress,
      }),
    );
  }
  return createApiClient({
    baseUrl: config.baseUrl,
    getToken: cachedTokenProvider(chainTokenProviders(providers), 5 * 60_000),
  });
}
