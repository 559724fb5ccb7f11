// A real OpenID Connect provider for the sign-in tests (crates/cli/tests/oidc.rs): the
// certified `oidc-provider` package, on plain http on loopback only, with a few test
// accounts and open dynamic client registration (POST /reg) so that each test registers a
// client with its own redirect URI. Started by .ci/setup.d/65-oidc-provider.sh.
//
// Usage: node provider.mjs PORT
//
// OIDC_STATIC_CLIENT (JSON client metadata) configures one client in advance: it survives a
// restart, which gives the provider a new signing key (the key-rotation test).

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 9471);
const issuer = `http://127.0.0.1:${port}`;

// Everyone's password; the accounts' claims are what the tests map to opsdesk accounts.
const PASSWORD = 'provider-password';
const accounts = {
  'alice@acme.example': { name: 'Alice Acme', email_verified: true, groups: ['acme-users'] },
  'carol@acme.example': { name: 'Carol Acme', email_verified: true, groups: ['acme-users'] },
  'unverified@acme.example': { name: 'Una Verified', email_verified: false, groups: [] },
  'gus@globex.example': { name: 'Gus Globex', email_verified: true, groups: [] },
  'ann@msp.example': { name: 'Ann Agent', email_verified: true, groups: ['desk'] },
  'dave@msp.example': { name: 'Dave Desk', email_verified: true, groups: ['desk', 'network'] },
};

// A fresh signing key per start: tokens are only ever checked while the provider runs.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const staticClient = process.env.OIDC_STATIC_CLIENT ? [JSON.parse(process.env.OIDC_STATIC_CLIENT)] : [];

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: staticClient,
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
  },
  // The claims go into the ID token itself, where opsdesk reads them.
  conformIdTokenClaims: false,
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  },
  pkce: { required: () => true },
  ttl: { AuthorizationCode: 600, IdToken: 3600, AccessToken: 3600, Interaction: 3600, Session: 3600, Grant: 3600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, ...account };
      },
    };
  },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><h1>Test provider</h1>${error ? `<p id="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">E-mail</label> <input id="login" name="login" autofocus>
<label for="password">Password</label> <input id="password" name="password" type="password">
<button type="submit" id="submit">Sign in</button></form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) break;
  }
  return new URLSearchParams(body);
}

// The login screen: a password form for the test accounts; consent is implied.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid);
    return undefined;
  }
  const form = await readForm(ctx.req);
  const login = form.get('login') || '';
  if (!accounts[login] || form.get('password') !== PASSWORD) {
    ctx.status = 401;
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, 'Wrong e-mail or password');
    return undefined;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  const result = { login: { accountId: login }, consent: { grantId } };
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
});

createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
