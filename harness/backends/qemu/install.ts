// The install step's entry for the qemu guest kernel (ci/ensure.sh runs it when the cache is empty).
import { errorLine } from '../../errors.ts';
import { installQemuKernel } from './kernel.ts';

try {
  await installQemuKernel((s) => process.stderr.write(`cnilab: ${s}\n`));
} catch (e) {
  // Not fatal: the qemu backend then says it is unavailable, and why; the modes it would run are skipped.
  process.stderr.write(`cnilab: the qemu guest kernel could not be prepared: ${errorLine(e).text}\n`);
}
