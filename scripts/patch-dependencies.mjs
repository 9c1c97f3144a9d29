// Runs after every install (npm's postinstall): small fixes to dependencies that their authors
// have not released yet. Each names its upstream issue; delete it once a release carries the fix.
// Plain JavaScript, so it runs wherever `npm ci` does, the production image included.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PATCHES = [
  {
    // porsager/postgres#1154, #1208 (fix proposed in #1209): a write scheduled with setImmediate runs
    // after the connection closed and throws on the null socket, outside any query's promise, so
    // the whole process dies. Seen here when Postgres stops while the worker is busy (the fault
    // suite). The guard fails the connection's queries with CONNECTION_CLOSED instead, which the
    // worker retries like any other lost connection.
    package: 'postgres',
    files: ['src/connection.js', 'cjs/src/connection.js', 'cf/src/connection.js'],
    find: '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n',
    replace:
      '  function nextWrite(fn) {\n' +
      '    if (!socket) { // patched by vapi-relay: porsager/postgres#1208\n' +
      '      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n' +
      '      chunk = nextWriteTimer = null\n' +
      "      error(Errors.connection('CONNECTION_CLOSED', options))\n" +
      '      return false\n' +
      '    }\n' +
      '    const x = socket.write(chunk, fn)\n',
  },
];

const modules = join(dirname(dirname(fileURLToPath(import.meta.url))), 'node_modules');

for (const patch of PATCHES) {
  const root = join(modules, patch.package);
  for (const file of patch.files) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const source = readFileSync(path, 'utf8');
    if (source.includes(patch.replace)) continue;
    if (!source.includes(patch.find)) {
      console.error(
        `patch-dependencies: ${patch.package}/${file} no longer has the code this patch fixes; check whether the new release fixed it, then update or delete the patch in scripts/patch-dependencies.mjs`,
      );
      process.exit(1);
    }
    writeFileSync(path, source.replace(patch.find, patch.replace));
    console.log(`patch-dependencies: patched ${patch.package}/${file}`);
  }
}
