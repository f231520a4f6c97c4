/**
 * Distinguished names (RFC 4514) as the LDAP connector needs them: building an account's DN from
 * a template with the account escaped, and reading a member DN back into its parts to recognise
 * the account in it. Comparison lower-cases types and values, which is right for the attributes
 * DNs are made of in practice (cn, uid, ou, dc, o) and is how directories match them.
 */

export interface Ava {
  type: string;
  value: string;
}
export type Rdn = Ava[];

const SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\']);

/** An attribute value escaped for use in a DN, so any account name stays one value. */
export function escapeDnValue(value: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === '\0') out += '\\00';
    else if (SPECIAL.has(ch)) out += `\\${ch}`;
    else out += ch;
  }
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** The RDNs of a DN, most specific first, values unescaped; undefined when it is malformed. */
export function parseDn(dn: string): Rdn[] | undefined {
  const rdns: Rdn[] = [];
  if (dn.trim() === '') return rdns;
  let rdn: Rdn = [];
  let i = 0;
  while (i <= dn.length) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = dn.slice(i, eq).trim();
    if (!/^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)*)$/.test(type)) return undefined;
    const bytes: number[] = [];
    // Unescaped spaces at either end are not part of the value.
    let kept = 0;
    let j = eq + 1;
    while (j < dn.length && dn[j] === ' ') j++;
    for (; j < dn.length; j++) {
      const ch = dn[j]!;
      if (ch === ',' || ch === '+' || ch === ';') break;
      if (ch === '\\') {
        const hex = dn.slice(j + 1, j + 3);
        if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          j += 2;
        } else if (j + 1 < dn.length) {
          bytes.push(...Buffer.from(dn[j + 1]!));
          j += 1;
        } else {
          return undefined;
        }
        kept = bytes.length;
        continue;
      }
      if (ch === '"' || ch === '<' || ch === '>') return undefined;
      bytes.push(...Buffer.from(ch));
      if (ch !== ' ') kept = bytes.length;
    }
    rdn.push({ type, value: Buffer.from(bytes.slice(0, kept)).toString('utf8') });
    if (j >= dn.length) {
      rdns.push(rdn);
      return rdns;
    }
    if (dn[j] !== '+') {
      rdns.push(rdn);
      rdn = [];
    }
    i = j + 1;
  }
  return undefined;
}

/** One comparable text for RDNs: types and values lower-cased, multi-valued RDNs sorted. */
export function normalizeRdns(rdns: Rdn[]): string {
  return rdns
    .map((r) =>
      r
        .map((a) => `${a.type.toLowerCase()}=${escapeDnValue(a.value.toLowerCase())}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

/** A DN's comparable form, or undefined when it is malformed. */
export function normalizeDn(dn: string): string | undefined {
  const rdns = parseDn(dn);
  return rdns && normalizeRdns(rdns);
}

/** Whether `dn` is `base` or lies beneath it. */
export function isUnder(dn: string, base: string): boolean {
  const d = parseDn(dn);
  const b = parseDn(base);
  if (!d || !b || d.length < b.length) return false;
  return normalizeRdns(d.slice(d.length - b.length)) === normalizeRdns(b);
}

/**
 * A DN template such as `uid={account},ou=people,dc=acme,dc=test`: the account is the whole value
 * of the first RDN, so a member DN can be read back into the account without asking the server.
 */
export interface DnTemplate {
  attribute: string;
  /** The DN the accounts sit under, as written. */
  parent: string;
  dn(account: string): string;
  /** The account a DN names, or undefined when the DN does not follow the template. */
  account(dn: string): string | undefined;
}

export const TEMPLATE_SHAPE = /^\s*([A-Za-z][A-Za-z0-9-]*)\s*=\s*\{account\}\s*,(.+)$/;

export function dnTemplate(template: string): DnTemplate | undefined {
  const m = TEMPLATE_SHAPE.exec(template);
  if (!m) return undefined;
  const attribute = m[1]!;
  const parent = m[2]!.trim();
  const parentRdns = parseDn(parent);
  if (!parentRdns || parentRdns.length === 0) return undefined;
  const parentNorm = normalizeRdns(parentRdns);
  return {
    attribute,
    parent,
    dn: (account) => `${attribute}=${escapeDnValue(account)},${parent}`,
    account: (dn) => {
      const rdns = parseDn(dn);
      if (!rdns || rdns.length !== parentRdns.length + 1) return undefined;
      const [first, ...rest] = rdns;
      if (first!.length !== 1 || first![0]!.type.toLowerCase() !== attribute.toLowerCase()) {
        return undefined;
      }
      return normalizeRdns(rest) === parentNorm ? first![0]!.value : undefined;
    },
  };
}
