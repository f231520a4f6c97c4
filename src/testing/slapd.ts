import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refusingPort } from '../connectors/test-targets.js';

/** Where Debian's `slapd` and `ldap-utils` put their schemas and modules. */
const SCHEMAS = '/etc/ldap/schema';
const MODULES = '/usr/lib/ldap';
/** slapd, slapadd and slappasswd live in sbin, which a non-root PATH often lacks. */
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** A program's path, from PATH or sbin; undefined when it is not installed. */
function tool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), ...SBIN];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

/** A program known to be installed (slapdMissing said so). */
const need = (name: string) => tool(name) ?? name;

/** A throwaway OpenLDAP server on a loopback port with its own configuration and data directory. */
export interface Slapd {
  url: string;
  /** With `tls`: the ldaps:// URL, and the PEM file of the CA that signed the server's certificate. */
  ldapsUrl?: string;
  caFile?: string;
  port: number;
  suffix: string;
  rootDn: string;
  rootPassword: string;
  /** The service account the connector tests bind as: it may write `member`/`memberUid` only. */
  serviceDn: string;
  servicePassword: string;
  /** Stops the server (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
}

/** Why the LDAP tests cannot run here, or undefined when they can. */
export function slapdMissing(): string | undefined {
  const tools = ['slapd', 'slapadd', 'slappasswd'];
  if (tools.some((t) => !tool(t)) || !existsSync(join(SCHEMAS, 'nis.ldif'))) {
    return 'OpenLDAP is not installed: install it to run the LDAP tests (apt-get install slapd ldap-utils)';
  }
  return undefined;
}

/**
 * The cn=config of one mdb database: the schemas posixGroup and inetOrgPerson need, a root DN,
 * and a service account that may read everything but write only group membership, so the tests
 * bind with the permissions docs/connectors/ldap.md asks an operator to give.
 */
function config(
  dir: string,
  suffix: string,
  rootDn: string,
  hash: string,
  serviceDn: string,
  tls: boolean,
) {
  const certificates = tls
    ? `olcTLSCACertificateFile: ${dir}/ca.pem
olcTLSCertificateFile: ${dir}/server.pem
olcTLSCertificateKeyFile: ${dir}/server.key
`
    : '';
  return `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: ${dir}/slapd.pid
${certificates}
dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: ${MODULES}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://${SCHEMAS}/core.ldif
include: file://${SCHEMAS}/cosine.ldif
include: file://${SCHEMAS}/nis.ldif
include: file://${SCHEMAS}/inetorgperson.ldif

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: ${dir}/data
olcDbMaxSize: 67108864
olcSuffix: ${suffix}
olcRootDN: ${rootDn}
olcRootPW: ${hash}
olcDbIndex: objectClass eq
olcDbIndex: cn,uid,member,memberUid eq
olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to dn.subtree="${suffix}" attrs=member,memberUid by dn.exact="${serviceDn}" write by * read
olcAccess: {2}to * by * read
`;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/**
 * Starts slapd on a free loopback port with `ldif` (entries under `suffix`, without the suffix
 * entry itself, which is created here) loaded offline by slapadd. Call `stop()` afterwards.
 */
/** A CA and a certificate it signed for 127.0.0.1 and localhost, valid for a day. */
function certificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...key,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=Gatehouse test CA',
  );
  openssl('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.cnf',
  );
}

export async function startSlapd(
  opts: { suffix?: string; ldif?: string; servicePassword?: string; tls?: boolean } = {},
): Promise<Slapd> {
  const missing = slapdMissing();
  if (missing) throw new Error(missing);
  const suffix = opts.suffix ?? 'dc=gatehouse,dc=test';
  const rootDn = `cn=admin,${suffix}`;
  const rootPassword = `root-${process.pid}`;
  const serviceDn = `cn=gatehouse,ou=services,${suffix}`;
  const servicePassword = opts.servicePassword ?? `svc-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-slapd-'));
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child!.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const confDir = join(dir, 'slapd.d');
    mkdirSync(confDir);
    mkdirSync(join(dir, 'data'));
    const hash = execFileSync(need('slappasswd'), ['-s', rootPassword], {
      encoding: 'utf8',
    }).trim();
    const serviceHash = execFileSync(need('slappasswd'), ['-s', servicePassword], {
      encoding: 'utf8',
    }).trim();
    if (opts.tls) certificates(dir);
    writeFileSync(
      join(dir, 'config.ldif'),
      config(dir, suffix, rootDn, hash, serviceDn, opts.tls ?? false),
    );
    execFileSync(need('slapadd'), ['-n', '0', '-F', confDir, '-l', join(dir, 'config.ldif')], {
      stdio: 'pipe',
    });
    const top = suffix.split(',')[0]!.split('=')[1]!;
    const base = `dn: ${suffix}
objectClass: dcObject
objectClass: organization
dc: ${top}
o: ${top}

dn: ou=services,${suffix}
objectClass: organizationalUnit
ou: services

dn: ${serviceDn}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: gatehouse
userPassword: ${serviceHash}

${opts.ldif ?? ''}
`;
    writeFileSync(join(dir, 'base.ldif'), base);
    execFileSync(need('slapadd'), ['-n', '1', '-F', confDir, '-l', join(dir, 'base.ldif')], {
      stdio: 'pipe',
    });
    const port = await refusingPort();
    const url = `ldap://127.0.0.1:${port}`;
    const tlsPort = opts.tls ? await refusingPort() : undefined;
    const ldapsUrl = tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined;
    const listen = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' ');
    child = spawn(need('slapd'), ['-h', listen, '-F', confDir, '-d', '0'], { stdio: 'ignore' });
    const started = child;
    let exited = false;
    started.once('exit', () => {
      exited = true;
    });
    for (let i = 0; !(await accepting(port)); i++) {
      if (exited || i > 500) throw new Error(`slapd did not start on ${url}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; tlsPort && !(await accepting(tlsPort)); i++) {
      if (exited || i > 500) throw new Error(`slapd did not start on ${ldapsUrl}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return {
      url,
      port,
      ...(ldapsUrl ? { ldapsUrl, caFile: join(dir, 'ca.pem') } : {}),
      suffix,
      rootDn,
      rootPassword,
      serviceDn,
      servicePassword,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
