import { parseDuration } from '../../core/duration.js';
import { PAGE_OPTIONS, PAGE_USAGE, need, pageArgs, positional, str } from '../args.js';
import type { Command, RunArgs } from '../command.js';
import { paged, table } from '../format.js';

/** Whoever runs the command holds the store; `--as` names them in the audit trail. */
const operator = (r: RunArgs) => str(r.args, 'as') ?? 'operator';

export const tokenCreate: Command = {
  name: 'token create',
  usage: 'token create --identity ID --scopes S[,S…] [--expires 90d] [--as ID]',
  summary: 'a new API token acting as ID; the secret is printed once and only its hash is kept',
  options: {
    identity: { type: 'string' },
    scopes: { type: 'string' },
    expires: { type: 'string' },
  },
  async run(r) {
    const expires = str(r.args, 'expires');
    const t = await r.app.createToken({
      identity: need(r.args, 'identity', 'the identity the token acts as'),
      scopes: need(r.args, 'scopes', 'what the token may do (read, request, approve, …)'),
      expiresInSeconds: expires === undefined ? undefined : parseDuration(expires, '--expires'),
      actor: operator(r),
      via: 'cli',
    });
    return {
      json: t,
      text: [
        `token ${t.id} for ${t.identity} (${t.scopes.join(', ')}), expires ${t.expires_at}`,
        t.token,
        'This is the only time the token is shown: keep it now.',
      ].join('\n'),
    };
  },
};

export const tokenList: Command = {
  name: 'token list',
  usage: `token list ${PAGE_USAGE}`,
  summary: 'API tokens with their identity, scopes, expiry and last use (never the secret)',
  options: { ...PAGE_OPTIONS },
  async run(r) {
    const page = await r.app.tokens(pageArgs(r.args));
    const rows = page.tokens.map((t) => ({
      id: t.id,
      identity: t.identity,
      scopes: t.scopes.join(','),
      expires: t.expires_at,
      revoked: t.revoked_at ?? '',
      'last used': t.last_used_at ?? '',
    }));
    return {
      json: page,
      text: paged(
        table(rows, ['id', 'identity', 'scopes', 'expires', 'revoked', 'last used']),
        rows.length,
        page.next_cursor,
      ),
    };
  },
};

export const tokenRevoke: Command = {
  name: 'token revoke',
  usage: 'token revoke ID [--as ID]',
  summary: 'revoke an API token now',
  async run(r) {
    const t = await r.app.revokeToken(
      positional(r.args, 2, 'ID: the token to revoke (tok_…)'),
      operator(r),
      'cli',
    );
    return { json: t, text: `revoked ${t.id} (${t.identity}) at ${t.revoked_at}` };
  },
};
