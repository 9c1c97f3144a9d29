import type { FastifyInstance } from 'fastify';

export interface RegisteredRoute {
  /** As registered, with its `:params` and wildcards. */
  path: string;
  methods: string[];
}

const LINE = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/;

/**
 * Every route an app has registered, read back from Fastify's own route tree (`printRoutes`), so a
 * test covers routes added later, by us or by a dependency, without a list of its own to go stale.
 */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const prefixes: string[] = [];
  const routes: RegisteredRoute[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = LINE.exec(line);
    if (!match) continue;
    prefixes.length = match[1]!.length / 4;
    prefixes.push(match[2]!);
    if (match[3]) routes.push({ path: prefixes.join(''), methods: match[3].split(', ') });
  }
  return routes;
}
