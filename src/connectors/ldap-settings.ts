import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { dnTemplate, parseDn } from './ldap-dn.js';
import { timeoutSettings } from './module.js';
import { fields } from './schema.js';

export const text = z.string().min(1);
const dnSetting = text.refine((v) => v.includes('${') || parseDn(v) !== undefined, 'is not a DN');

/** The settings of an `ldap` entry in connectors.yaml (docs/connectors/ldap.md). */
export const settingsSchema = fields({
  url: text.refine(
    (v) => v.includes('${') || /^ldaps?:\/\/[^/?#\s]+\/?$/i.test(v),
    'must be an ldap:// or ldaps:// URL (scheme, host and port only), or a ${VAR} reference to one',
  ),
  bind_dn: dnSetting,
  /** A ${VAR} reference: validation refuses a literal (src/config/secrets.ts). */
  bind_password: text,
  base_dn: dnSetting,
  /** `member` (groupOfNames, values are account DNs) or `memberUid` (posixGroup, values are accounts). */
  membership: z.enum(['member', 'memberUid']).optional(),
  /** The account's DN from a template; the account is the whole value of the first RDN. */
  account_dn: text
    .refine(
      (v) => dnTemplate(v) !== undefined,
      'must be a DN whose first value is {account}, such as uid={account},ou=people,dc=acme,dc=test',
    )
    .optional(),
  /** Or found by a search: the entry beneath base_dn whose attribute equals the account. */
  account_search: fields({ attribute: text, base_dn: dnSetting.optional() }).optional(),
  /** What stays in a groupOfNames whose last member is revoked (the class needs one member). */
  placeholder_member: z
    .string()
    .refine((v) => v === '' || parseDn(v) !== undefined, 'is not a DN (the empty DN is "")')
    .optional(),
  start_tls: z.boolean().optional(),
  tls: fields({
    /** PEM file of the certificate authorities to trust instead of the system's. */
    ca_file: text.optional(),
    /** Check the server's certificate and name (default true); off only for tests. */
    verify: z.boolean().optional(),
    /** The name the certificate must carry, when it is not the URL's host. */
    server_name: text.optional(),
  }).optional(),
  ...timeoutSettings,
}).superRefine((s, ctx) => {
  if (s.account_dn !== undefined && s.account_search !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['account_search'],
      message: 'give account_dn or account_search, not both',
    });
  }
  if (s.start_tls === true && /^ldaps:/i.test(s.url)) {
    ctx.addIssue({
      code: 'custom',
      path: ['start_tls'],
      message: 'an ldaps:// URL is already TLS; start_tls is for ldap:// URLs',
    });
  }
});

/** Node's TLS options from the `tls` settings, for ldaps:// and StartTLS. */
export function tlsOptions(
  connector: string,
  url: string,
  tls: { ca_file?: string; verify?: boolean; server_name?: string } | undefined,
): ConnectionOptions {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  // SNI carries names only (RFC 6066); an IP address is still checked against the certificate.
  const servername = tls?.server_name ?? (isIP(host) ? undefined : host);
  const options: ConnectionOptions = {
    rejectUnauthorized: tls?.verify ?? true,
    ...(servername ? { servername } : {}),
  };
  if (tls?.ca_file) {
    try {
      options.ca = readFileSync(tls.ca_file);
    } catch (e) {
      throw new InputError(
        `connector ${connector}: tls.ca_file cannot be read: ${(e as Error).message}`,
        { code: 'invalid_connector_settings', field: 'tls.ca_file' },
      );
    }
  }
  return options;
}
