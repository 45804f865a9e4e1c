// The lab's own certificate authority for its kube-apiserver, made with the openssl command line
// (Node's crypto makes keys but not certificates): a CA, the API server's serving certificate for
// every address it is reached at, an admin client certificate (group system:masters, as kubeadm's
// admin.conf) and the service-account signing key pair the API server needs to issue tokens.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { run } from '../kernel/exec.ts';

export interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

/** Where each file is, for a lab folder (made or not). */
export const pkiFiles = (dir: string): Pki => ({
  dir,
  ca: `${dir}/ca.crt`,
  serverCert: `${dir}/apiserver.crt`,
  serverKey: `${dir}/apiserver.key`,
  adminCert: `${dir}/admin.crt`,
  adminKey: `${dir}/admin.key`,
  saKey: `${dir}/sa.key`,
  saPub: `${dir}/sa.pub`,
});

const ossl = (args: string[]) => run(['openssl', ...args], { op: `openssl ${args[0]}` });
// P-256 keys: a few ms each, where RSA 2048 takes ~100 ms; the API server takes both. A key is
// 0600 from the moment it exists (openssl writes it with the umask's mode): the lab's CA key signs
// system:masters certificates, and the service-account key signs tokens.
const ecKey = async (file: string) => {
  writeFileSync(file, '', { mode: 0o600 });
  chmodSync(file, 0o600);
  await ossl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file]);
};

async function signed(p: Pki, name: string, subject: string, ext: string): Promise<void> {
  const key = `${p.dir}/${name}.key`;
  await ecKey(key);
  await ossl(['req', '-new', '-key', key, '-subj', subject, '-out', `${p.dir}/${name}.csr`]);
  writeFileSync(`${p.dir}/${name}.ext`, ext);
  await ossl([
    'x509',
    '-req',
    '-in',
    `${p.dir}/${name}.csr`,
    '-CA',
    p.ca,
    '-CAkey',
    `${p.dir}/ca.key`,
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    `${p.dir}/${name}.ext`,
    '-out',
    `${p.dir}/${name}.crt`,
  ]);
}

/** Makes every file in `dir`: the serving certificate names `ips` and the in-cluster DNS names. */
export async function makePki(dir: string, ips: readonly string[]): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const p = pkiFiles(dir);
  await ecKey(`${dir}/ca.key`);
  await ossl(['req', '-x509', '-new', '-key', `${dir}/ca.key`, '-subj', '/CN=cnilab-ca', '-days', '30', '-out', p.ca]);
  const dns = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'localhost'];
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((ip) => `IP:${ip}`)].join(',');
  await signed(p, 'apiserver', '/CN=kube-apiserver', `extendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  await signed(p, 'admin', '/O=system:masters/CN=cnilab-admin', 'extendedKeyUsage=clientAuth\n');
  await ecKey(p.saKey);
  await ossl(['ec', '-in', p.saKey, '-pubout', '-out', p.saPub]);
  return p;
}
