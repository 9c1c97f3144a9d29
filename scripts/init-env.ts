import { resolve } from 'node:path';
import { resolveEnvironment } from '#shared/secrets';

/** `npm run env:init`: write the secrets a fresh checkout lacks into .env (what `npm start` does on first run). */
const envPath = resolve('.env');
const { generated } = resolveEnvironment(process.env, envPath);
console.log(generated.length > 0 ? `wrote ${generated.join(', ')} to ${envPath}` : `${envPath} already holds every secret`);
