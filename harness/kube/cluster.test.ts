import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1DaemonSet } from '@kubernetes/client-node';
import { sandboxNetns } from '../backends/kind/docker.ts';
import { parseTopology } from '../topology/load.ts';
import { kindConfig, probePod, rolloutPending } from './cluster.ts';

const t = parseTopology(
  'name: k\nmtu: 1500\npodCidr: 10.244.0.0/16\nsubnets: [{ name: a, cidr: 172.31.30.0/24 }]\n' +
    'nodes:\n  - { name: n1, subnet: a, pods: 1 }\n  - { name: n2, subnet: a, pods: 1 }\n  - { name: n3, subnet: a, pods: 1 }\n',
);

test("kind's cluster config: no default CNI, the topology's pod network, one kind node per lab node", () => {
  assert.deepEqual(kindConfig(t), {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    networking: { disableDefaultCNI: true, podSubnet: '10.244.0.0/16' },
    nodes: [{ role: 'control-plane' }, { role: 'worker' }, { role: 'worker' }],
  });
});

test('a rollout is done only when the controller saw the generation and every scheduled pod is updated and available', () => {
  const ds = (generation: number, status: V1DaemonSet['status']): V1DaemonSet => ({ metadata: { generation }, status });
  const s = { currentNumberScheduled: 3, desiredNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 };
  assert.match(rolloutPending(ds(2, undefined)) ?? '', /generation 2 not yet observed/);
  assert.match(rolloutPending(ds(2, { ...s, observedGeneration: 1 })) ?? '', /generation 2 not yet observed/);
  assert.equal(
    rolloutPending(ds(2, { ...s, observedGeneration: 2, updatedNumberScheduled: 1, numberAvailable: 3 })),
    '1 of 3 pods updated',
  );
  assert.equal(
    rolloutPending(ds(2, { ...s, observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 2 })),
    '2 of 3 pods available',
  );
  assert.equal(rolloutPending(ds(2, { ...s, observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 3 })), undefined);
  assert.equal(rolloutPending(ds(1, { ...s, desiredNumberScheduled: 0, observedGeneration: 1 })), 'no node is scheduled for it');
});

test('a probe pod is pinned to its node and tolerates every taint (the control plane has one)', () => {
  const p = probePod('cnilab-x-worker');
  assert.equal(p.spec?.nodeName, 'cnilab-x-worker');
  assert.deepEqual(p.spec?.tolerations, [{ operator: 'Exists' }]);
});

test("a pod sandbox's network namespace from crictl inspectp", () => {
  const inspect = JSON.stringify({
    status: { id: 'abc' },
    info: { runtimeSpec: { linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/cni-1234' }] } } },
  });
  assert.equal(sandboxNetns(inspect), '/var/run/netns/cni-1234');
  assert.equal(sandboxNetns('{"info":{}}'), undefined);
});
