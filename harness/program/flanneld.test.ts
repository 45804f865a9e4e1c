import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr } from '../net/ipv4.ts';
import { planDatastore } from '../plan/datastore.ts';
import { labNames } from '../plan/names.ts';
import { parseTopology } from '../topology/load.ts';
import { DaemonExitedError } from '../errors.ts';
import { type Lease, leftBehind, netConf, parseSubnetEnv, withLeases } from './flanneld.ts';
import { settledLeases } from './real-flanneld.ts';
import type { ProgramTarget } from './target.ts';

const t = parseTopology(
  'name: t\npodCidr: 10.244.0.0/16\nrouter: {}\nsubnets:\n  - {name: a, cidr: 172.31.10.0/28}\n  - {name: b, cidr: 172.31.20.0/24}\n' +
    'nodes:\n  - {name: n1, subnet: a, ip: 172.31.10.14}\n  - {name: n2, subnet: a, ip: 172.31.10.3}\n  - {name: n3, subnet: b}\n',
  't.yaml',
);

test("subnet.env as flanneld writes it: the lease is FLANNEL_SUBNET's network", () => {
  const s = parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.96.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n')!;
  assert.deepEqual([formatCidr(s.network), formatCidr(s.subnet), s.mtu, s.ipMasq], ['10.244.0.0/16', '10.244.96.0/24', 1450, false]);
  assert.equal(parseSubnetEnv('FLANNEL_NETWORK=10.244.0.0/16\n'), undefined, 'a half-written file is not a lease');
});

test('net-conf.json carries the network, the lease length and the backend as users write them', () => {
  assert.deepEqual(JSON.parse(netConf(t, { Type: 'vxlan', VNI: 1, Port: 8472 })), {
    Network: '10.244.0.0/16',
    SubnetLen: 24,
    Backend: { Type: 'vxlan', VNI: 1, Port: 8472 },
  });
});

test("the model is fed flanneld's leases in place of the topology's", () => {
  const l = withLeases(t, new Map([['n2', { subnet: '10.244.93.0/24', publicIp: '172.31.10.3', backendType: 'vxlan' }]]));
  assert.deepEqual(
    l.nodes.map((n) => formatCidr(n.podSubnet)),
    ['10.244.1.0/24', '10.244.93.0/24', '10.244.3.0/24'],
  );
});

test("etcd takes the first subnet's highest free address, past nodes and the router", () => {
  const ds = planDatastore(t, labNames('m'));
  // /28: hosts .1-.14; .14 is n1's, so .13.
  assert.equal(ds.ip, '172.31.10.13');
  assert.equal(ds.netns, 'cnilab-m-etcd');
  assert.ok(ds.ops.some((o) => o.kind === 'route' && o.dst === 'default' && o.via === '172.31.10.1'));
});

test('left behind: facts there before the restart and after it that the new backend does not program', () => {
  const before = new Map([['n1', new Set(['link flannel.1 vxlan', 'route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', 'gone'])]]);
  const after = new Map([['n1', new Set(['link flannel.1 vxlan', 'route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', 'new'])]]);
  assert.deepEqual(
    leftBehind(before, after, (_n, f) => f.startsWith('route')),
    ['n1: link flannel.1 vxlan'],
  );
});

test("flanneld's lease race (subnet already exists) is a restart, as a kubelet's; any other exit fails at once", async () => {
  const raceLog =
    'E1207 main.go:384] Error registering network: failed to acquire lease: subnet already exists\nStopping shutdownHandler...';
  const dead = { netns: 'x-n2', pid: 2 ** 22 + 1, startTime: 1, what: 'flanneld n2' };
  const said: string[] = [];
  const t = { state: { daemons: [dead] }, save: () => {}, progress: (l: string) => said.push(l) } as unknown as ProgramTarget;
  const restarted: string[][] = [];
  let waits = 0;
  const leases = new Map<string, Lease>();
  const got = await settledLeases(
    t,
    { restart: async (nodes) => void restarted.push([...nodes]) },
    async () => {
      if (waits++ === 0) throw new DaemonExitedError(['flanneld n2'], [raceLog]);
      return leases;
    },
    async () => [],
  );
  assert.equal(got, leases);
  assert.deepEqual(restarted, [['n2']]);
  assert.deepEqual(t.state.daemons, [], "the exited flanneld's record is gone (status would call the lab degraded)");
  assert.match(said[0]!, /^flanneld on n2 lost flannel's lease race \(subnet already exists\) and exited; started again$/);
  // Another reason to exit is not retried; nor is the race past the restarts a lab allows.
  const other = new DaemonExitedError(['flanneld n1'], ['E main.go] failed to register network: bad config']);
  await assert.rejects(
    settledLeases(
      t,
      { restart: async () => {} },
      async () => Promise.reject(other),
      async () => [],
    ),
    (e) => e === other,
  );
  const always = new DaemonExitedError(['flanneld n3'], [raceLog]);
  let tries = 0;
  await assert.rejects(
    settledLeases(
      t,
      { restart: async () => {} },
      async () => {
        tries++;
        throw always;
      },
      async () => [],
    ),
    (e) => e === always,
  );
  assert.equal(tries, 3, 'two restarts, then the exit is the switch failure');
});
