import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAB_KEEPERS } from './labs.ts';
import { BACKENDS } from './registry.ts';

test('labs.ts reaches labs through exactly the backends that keep them (Backend.attach), netns last', () => {
  const attaching = BACKENDS.flatMap((b) => (b.attach ? [b.attach] : []));
  assert.deepEqual(new Set(LAB_KEEPERS), new Set(attaching));
  assert.equal(LAB_KEEPERS.at(-1), BACKENDS.find((b) => b.name === 'netns')!.attach);
});

test('a lab is reached by name whichever backend keeps it; a corrupt kind record is one line with its fix', async () => {
  const { mkdtempSync, mkdirSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { attachLab } = await import('./labs.ts');
  const { UsageError } = await import('../errors.ts');
  const dir = mkdtempSync(`${tmpdir()}/cnilab-labs-`);
  const saved = process.env.CNILAB_STATE_DIR;
  process.env.CNILAB_STATE_DIR = dir;
  try {
    mkdirSync(`${dir}/kl1`);
    writeFileSync(`${dir}/kl1/kind.json`, JSON.stringify({ lab: 'kl1', cluster: 'cnilab-kl1', created: false, owner: null }));
    const kind = attachLab('kl1');
    assert.equal(kind.backend, 'kind');
    assert.equal(await kind.live(), undefined, "a kind lab's nodes are not this process's to switch");
    assert.throws(() => kind.status(), /lab kl1 is kind cluster cnilab-kl1/);
    mkdirSync(`${dir}/kl2`);
    writeFileSync(`${dir}/kl2/kind.json`, '{"lab": ');
    assert.throws(
      () => attachLab('kl2'),
      (e) => e instanceof UsageError && /kl2\/kind\.json is not readable/.test(e.message) && /cnilab gc/.test(e.message),
    );
    assert.throws(() => attachLab('nosuch'), /no lab named "nosuch"/);
    assert.throws(() => attachLab(undefined), /no lab is up/);
  } finally {
    if (saved === undefined) delete process.env.CNILAB_STATE_DIR;
    else process.env.CNILAB_STATE_DIR = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
