/**
 * `npm run build`: compiles the services to plain JavaScript in `dist/` (tsc, relative imports
 * rewritten to .js), with what they read at run time beside them: the migrations, the relay's page,
 * and a package.json that maps the `#shared/*` alias onto the compiled files.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}drizzle`, `${dist}/drizzle`, { recursive: true });
cpSync(`${root}services/relay/public`, `${dist}/services/relay/public`, { recursive: true });
const { name, version, engines } = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as Record<string, unknown>;
writeFileSync(
  `${dist}/package.json`,
  `${JSON.stringify({ name, version, private: true, type: 'module', engines, imports: { '#shared/*': './shared/*.js' } }, null, 2)}\n`,
);
console.log(`built ${dist}: node dist/services/main.js [ingress|worker|relay], node dist/scripts/db-migrate.js`);
