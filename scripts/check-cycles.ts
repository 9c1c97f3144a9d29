/**
 * `npm run lint` step: fails when source modules import each other in a cycle. Cycles make start-up
 * order matter and leave half-initialised modules; `shared/` must never reach back into `services/`.
 * Reads import specifiers textually: relative paths and the `#shared/*` alias.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SOURCE_DIRS = ['services', 'shared', 'scripts'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function resolveImport(from: string, specifier: string): string | null {
  const base = specifier.startsWith('#shared/')
    ? join(ROOT, 'shared', specifier.slice('#shared/'.length))
    : specifier.startsWith('.')
      ? resolve(dirname(from), specifier)
      : null;
  if (!base) return null;
  return [base, `${base}.ts`, join(base, 'index.ts')].find((candidate) => candidate.endsWith('.ts') && existsSync(candidate)) ?? null;
}

const files = SOURCE_DIRS.flatMap((dir) => sourceFiles(join(ROOT, dir)));
const graph = new Map(
  files.map((file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(IMPORT)].map((m) => resolveImport(file, m[1] ?? m[2]!)).filter((t) => t !== null);
    return [file, targets];
  }),
);

const cycles: string[][] = [];
const state = new Map<string, 'visiting' | 'done'>();
function visit(file: string, path: string[]) {
  if (state.get(file) === 'done') return;
  if (state.get(file) === 'visiting') {
    cycles.push([...path.slice(path.indexOf(file)), file]);
    return;
  }
  state.set(file, 'visiting');
  for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
  state.set(file, 'done');
}
files.forEach((file) => visit(file, []));

const upward = files.filter((file) => file.startsWith(join(ROOT, 'shared')) && graph.get(file)!.some((t) => !t.startsWith(join(ROOT, 'shared'))));

for (const cycle of cycles) console.error(`import cycle: ${cycle.map((f) => relative(ROOT, f)).join(' → ')}`);
for (const file of upward) console.error(`shared/ must not import from outside shared/: ${relative(ROOT, file)}`);
if (cycles.length > 0 || upward.length > 0) process.exit(1);
console.log(`no import cycles in ${files.length} modules`);
