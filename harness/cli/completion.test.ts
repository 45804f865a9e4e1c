// The bash completion script, driven the way bash drives it (COMP_WORDS, COMP_CWORD), without a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { allModes } from '../modes/registry.ts';
import { completionScript } from './completion.ts';

function complete(script: string, words: string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync(
    'bash',
    ['-c', `${script}\nCOMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _cnilab; printf '%s\\n' "\${COMPREPLY[@]}"`],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test("bash completion: commands, a command's flags, mode names (also after a comma), backends", () => {
  const s = completionScript(
    'bash',
    allModes().map((m) => m.name),
  );
  assert.deepEqual(complete(s, ['cnilab', 'sw']), ['switch']);
  assert.deepEqual(complete(s, ['cnilab', 'run', '--mo']), ['--modes']);
  assert.deepEqual(complete(s, ['cnilab', 'down', '--']), ['--name', '--all', '--force', '--help']);
  assert.deepEqual(complete(s, ['cnilab', 'run', '--modes', 'flannel-vx']), ['flannel-vxlan', 'flannel-vxlan-directrouting']);
  assert.deepEqual(complete(s, ['cnilab', 'run', '--modes', 'calico-bgp,flanneld-u']), ['calico-bgp,flanneld-udp']);
  assert.deepEqual(complete(s, ['cnilab', 'switch', 'calico-vxlan']), ['calico-vxlan-always', 'calico-vxlan-crosssubnet']);
  assert.deepEqual(complete(s, ['cnilab', 'run', '--backend', 'q']), ['qemu']);
  const zsh = completionScript('zsh', ['m']);
  assert.match(zsh, /bashcompinit/);
});
