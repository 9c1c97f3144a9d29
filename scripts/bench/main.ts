/**
 * `npm run bench`: each section measures something against a reference measured in the same run on
 * the same machine, so ratios compare across machines. Prints a table per section and writes every
 * figure to `bench-results.json`. `--only <name>[,<name>]` runs some sections; `BENCH_*` variables
 * scale them down for a quick look.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchCallMix } from './call-mix.ts';
import { benchEndToEnd } from './end-to-end.ts';
import { benchHistory } from './history.ts';
import { benchIngress } from './ingress.ts';
import { benchReconcile } from './reconcile.ts';
import type { BenchRun, BenchSection } from './section.ts';
import { benchTools } from './tools.ts';
import { benchWorker } from './worker.ts';

const sections: Record<string, BenchRun> = {
  ingress: benchIngress,
  worker: benchWorker,
  'end-to-end': benchEndToEnd,
  'call-mix': benchCallMix,
  tools: benchTools,
  history: benchHistory,
  reconcile: benchReconcile,
};
// The relay's section, when the relay service is there to measure.
if (existsSync(fileURLToPath(new URL('./relay.ts', import.meta.url)))) {
  const relay = (await import('./relay.ts')) as { benchRelay?: BenchRun };
  if (relay.benchRelay) sections.relay = relay.benchRelay;
}

const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? (process.argv[onlyIndex + 1] ?? '').split(',') : Object.keys(sections);
const unknown = only.filter((name) => !(name in sections));
if (unknown.length > 0) {
  console.error(`unknown section(s) ${unknown.join(', ')}; choose from ${Object.keys(sections).join(', ')}`);
  process.exit(2);
}

const print = (section: BenchSection) => {
  console.log(`\n${section.title}`);
  for (const row of section.rows) {
    const verdict = row.target ? `  target ${row.target}: ${row.met ? 'met' : 'MISSED'}` : '';
    console.log(`  ${row.what.padEnd(28)} ${row.figure.padStart(26)}   reference ${row.reference.padStart(30)}   ${row.ratio.padStart(12)}${verdict}`);
  }
};

const cores = cpus().length;
console.log(`node ${process.version}, ${cores} cores, ${new Date().toISOString()}; the load generators run in processes of their own`);
const results: Record<string, BenchSection> = {};
for (const name of only) {
  results[name] = await sections[name]!();
  print(results[name]);
}
writeFileSync('bench-results.json', `${JSON.stringify({ node: process.version, cores, at: new Date().toISOString(), results }, null, 2)}\n`);
console.log('\nfigures written to bench-results.json');
process.exit(0);
