// A real OpenID Connect provider (oidc-provider 9) for Latch's end-to-end
// tests: one confidential client, a few fixed users, the development
// interactions (a login form, then a consent form). Listens on 127.0.0.1 only.
//
//   node provider.js [PORT]        PORT (or env PORT); 0 or none: any free port
//
// Environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET   the one client (required)
//   OIDC_REDIRECT_URIS                   its redirect URIs, space- or comma-separated (required)
//   OIDC_TOKEN_AUTH_METHOD               client_secret_basic (default) or client_secret_post
//   OIDC_SECOND_CLIENT_ID, OIDC_SECOND_CLIENT_SECRET
//                                        optional: another application at the same provider,
//                                        same redirect URIs (its codes and tokens are for
//                                        another audience)
//   OIDC_EXIT_WITH_STDIN=1               exit when stdin closes (the harness holds it open,
//                                        so a test process that dies takes the provider along)
//
// Prints `READY http://127.0.0.1:PORT` (the issuer) on stdout once it
// listens. The harness (tests/src/oidc.rs) stops it by killing the process.
//
// The port is taken before the provider is built, so that the issuer names
// the real port even when the system chose it: no free-port race.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.js: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUris = required('OIDC_REDIRECT_URIS').split(/[\s,]+/).filter(Boolean);
const authMethod = process.env.OIDC_TOKEN_AUTH_METHOD || 'client_secret_basic';
if (!['client_secret_basic', 'client_secret_post'].includes(authMethod)) {
  console.error(`provider.js: OIDC_TOKEN_AUTH_METHOD ${authMethod} is not supported`);
  process.exit(2);
}
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

// The test users. The login typed into the form is the user's `sub` (the
// provider keeps it as the account id); the fixed users' subs are not
// their emails, so a client that mixes the two up fails:
//   verified     verified@example.com, email_verified true,  Vera Verified
//   unverified   unverified@example.com, email_verified false, Uma Unverified
//   second       second@example.com, email_verified true,  Sam Second
// Any other login is a user too, so a test can have as many as it needs:
// its email is the login when that has an `@`, else `LOGIN@example.com`
// (so `carol` and `carol@example.com` are two subs with one email); it is
// unverified when the login starts with `unverified`; its names are Test User.
const USERS = {
  verified: { email: 'verified@example.com', email_verified: true, given_name: 'Vera', family_name: 'Verified' },
  unverified: { email: 'unverified@example.com', email_verified: false, given_name: 'Uma', family_name: 'Unverified' },
  second: { email: 'second@example.com', email_verified: true, given_name: 'Sam', family_name: 'Second' },
};

function claimsOf(login) {
  if (Object.hasOwn(USERS, login)) return { sub: login, ...USERS[login] };
  return {
    sub: login,
    email: login.includes('@') ? login : `${login}@example.com`,
    email_verified: !login.startsWith('unverified'),
    given_name: 'Test',
    family_name: 'User',
  };
}

async function findAccount(_ctx, id) {
  if (!id) return undefined;
  const claims = claimsOf(id);
  return {
    accountId: id,
    async claims() {
      return { ...claims, name: `${claims.given_name} ${claims.family_name}` };
    },
  };
}

// Fresh keys per run: a test verifies against the JWKS the provider serves.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };

const client = (id, secret) => ({
  client_id: id,
  client_secret: secret,
  redirect_uris: redirectUris,
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: authMethod,
});
const clients = [client(clientId, clientSecret)];
if (process.env.OIDC_SECOND_CLIENT_ID && process.env.OIDC_SECOND_CLIENT_SECRET) {
  clients.push(client(process.env.OIDC_SECOND_CLIENT_ID, process.env.OIDC_SECOND_CLIENT_SECRET));
}

const configuration = {
  clients,
  // Every authorization request must carry an S256 code challenge.
  pkce: { required: () => true },
  findAccount,
  // The granted claims go in the ID token too, as most real providers do,
  // not only to the userinfo endpoint.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  features: { devInteractions: { enabled: true } },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 600,
    Grant: 600,
  },
};

if (process.env.OIDC_EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  // Why a flow failed, for the test's output (the browser only sees a page).
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'interaction.error']) {
    provider.on(event, (_ctx, err) => console.error(`provider.js: ${event}: ${err.message} ${err.error_description ?? ''}`));
  }
  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});
server.on('error', (err) => {
  console.error(`provider.js: ${err.message}`);
  process.exit(1);
});
