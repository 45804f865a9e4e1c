// What the API server is sent for a manifest's object: client-node serializes by its models'
// attribute names, so a plain object from YAML must become the model of its kind first, or a CRD's
// `x-kubernetes-int-or-string` is dropped (Calico's CRDs were refused for it: "type: Required value").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dumpYaml, type KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { calicoModuleDir } from '../host/daemons.ts';
import { typedForApply } from './client.ts';

const crd: KubernetesObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'things.example.org' },
  spec: {
    group: 'example.org',
    names: { kind: 'Thing', plural: 'things' },
    scope: 'Cluster',
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { port: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true } },
          },
        },
      },
    ],
  },
} as KubernetesObject;

test('a CRD keeps x-kubernetes-int-or-string on its way to the API server (a plain object would lose it)', () => {
  assert.doesNotMatch(dumpYaml(crd), /x-kubernetes-int-or-string/, 'the client drops it from a plain object');
  assert.match(dumpYaml(typedForApply(crd)), /x-kubernetes-int-or-string: true/);
});

test('kinds the client has no model for, and ConfigMap data, pass unchanged', () => {
  const pool = {
    apiVersion: 'crd.projectcalico.org/v1',
    kind: 'IPPool',
    metadata: { name: 'p' },
    spec: { cidr: '10.0.0.0/16', vxlanMode: 'Always' },
  };
  assert.deepEqual(parse(dumpYaml(typedForApply(pool))), pool);
  const cm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'n' },
    data: { 'net-conf.json': '{"Network":"10.244.0.0/16"}' },
  };
  assert.deepEqual(parse(dumpYaml(typedForApply(cm))), cm);
});

const calico = calicoModuleDir();
test("Calico's own FelixConfiguration CRD, from the module cache, keeps every int-or-string field", {
  skip: !calico && 'the calico module is not in the Go module cache',
}, () => {
  const text = readFileSync(`${calico}/libcalico-go/config/crd/crd.projectcalico.org_felixconfigurations.yaml`, 'utf8');
  const count = (s: string) => (s.match(/x-kubernetes-int-or-string: true/g) ?? []).length;
  assert.ok(count(text) > 0);
  assert.equal(count(dumpYaml(typedForApply(parse(text)))), count(text));
});
