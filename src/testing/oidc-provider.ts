import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface TestProvider {
  issuer: string;
  /**
   * Signs `login` in at the provider the way a browser would, from the authorization URL
   * Gatehouse redirected to: the development login form, then consent, following redirects with
   * a cookie jar. Returns the URL the provider sends the browser back to (redirect_uri?code…).
   */
  signIn(authorizationUrl: string, login: string): Promise<URL>;
  close(): Promise<void>;
}

/**
 * A real OpenID provider (`oidc-provider`, development interactions) on a loopback port, with
 * one confidential client. Any login is an account whose `email` is the login itself, verified
 * unless it is listed in `unverified`.
 */
export async function startTestProvider(opts: {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  unverified?: string[];
}): Promise<TestProvider> {
  const http: Server = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        client_secret: opts.clientSecret,
        redirect_uris: [opts.redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_post',
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    cookies: { keys: ['oidc-test-cookie-key'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          email: id,
          email_verified: !(opts.unverified ?? []).includes(id),
        }),
      };
    },
  });
  http.on('request', provider.callback());

  return {
    issuer,
    async signIn(authorizationUrl, login) {
      const jar = new Map<string, string>();
      const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const remember = (res: Response) => {
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';');
          const eq = pair!.indexOf('=');
          jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
        }
      };
      const send = async (url: URL, form?: Record<string, string>) => {
        const res = await fetch(url, {
          method: form ? 'POST' : 'GET',
          redirect: 'manual',
          headers: {
            cookie: cookieHeader(),
            ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          },
          ...(form ? { body: new URLSearchParams(form).toString() } : {}),
        });
        remember(res);
        return res;
      };
      let url = new URL(authorizationUrl);
      for (let step = 0; step < 12; step++) {
        if (!url.href.startsWith(issuer)) return url;
        let res = await send(url);
        if (res.status === 200 && url.pathname.startsWith('/interaction/')) {
          const page = await res.text();
          res = await send(
            url,
            page.includes('name="login"')
              ? { prompt: 'login', login, password: 'any' }
              : { prompt: 'consent' },
          );
        }
        const location = res.headers.get('location');
        if (!location)
          throw new Error(
            `the provider stopped at ${url.pathname}: ${res.status} ${await res.text()}`,
          );
        url = new URL(location, url);
      }
      throw new Error('the provider redirected too many times');
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
