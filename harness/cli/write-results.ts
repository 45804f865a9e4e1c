import { writeFileSync } from 'node:fs';
import type { ResultsFile } from '../results/schema.ts';

export async function writeResults(dir: string, results: ResultsFile): Promise<string[]> {
  const file = `${dir}/results.json`;
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return [file];
}
