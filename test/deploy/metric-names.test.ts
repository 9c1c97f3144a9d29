import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';

const { track, reset, close } = integrationResources();
const config = testConfig();
const deployFile = (path: string) => readFileSync(new URL(`../../deploy/${path}`, import.meta.url), 'utf8');

/** Every metric name in a text: ours all start with the prefix the roles register them under. */
const metricNames = (text: string) => new Set(text.match(/\bvapi_relay_\w+/g) ?? []);

/** The series names a /metrics page can hold: each family's name, and a histogram's `_bucket`, `_sum`, `_count`. */
function seriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

interface Dashboard {
  panels: { id: number; type: string; title: string; gridPos: object; targets?: { expr: string }[] }[];
  templating: { list: { definition?: string }[] };
}

afterAll(async () => {
  await reset(config.queuePrefix);
  await close();
});

describe('deploy/: the alert rules and the dashboard', () => {
  it('name only metrics some role exports', async () => {
    const apps: FastifyInstance[] = track(
      await buildIngressApp({ config, logger: silentLogger() }),
      await buildWorkerApp({ config, logger: silentLogger() }),
      await buildRelayApp({ config, logger: silentLogger() }),
    );
    await Promise.all(apps.map((app) => app.ready()));
    const exported = new Set<string>();
    for (const app of apps) for (const name of seriesNames((await app.inject({ url: '/metrics' })).body)) exported.add(name);

    const dashboard = JSON.parse(deployFile('grafana/vapi-relay.json')) as Dashboard;
    const dashboardText = [
      ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)),
      ...dashboard.templating.list.map((variable) => variable.definition ?? ''),
    ].join('\n');
    const named = {
      'prometheus/alerts.yml': metricNames(deployFile('prometheus/alerts.yml')),
      'prometheus/alerts.test.yml': metricNames(deployFile('prometheus/alerts.test.yml')),
      'grafana/vapi-relay.json': metricNames(dashboardText),
    };
    for (const [file, names] of Object.entries(named)) {
      expect(names.size, file).toBeGreaterThan(0);
      expect(
        [...names].filter((name) => !exported.has(name)),
        `${file} names metrics no role exports`,
      ).toEqual([]);
    }
  });

  it('test every alert, and lay the dashboard out with one id per panel and a query in each', () => {
    const rules = deployFile('prometheus/alerts.yml');
    const tests = deployFile('prometheus/alerts.test.yml');
    const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map(([, name]) => name);
    const tested = new Set([...tests.matchAll(/alertname: (\w+)$/gm)].map(([, name]) => name));
    expect(alerts.length).toBeGreaterThan(5);
    expect(
      alerts.filter((name) => !tested.has(name)),
      'alerts with no promtool test',
    ).toEqual([]);

    const { panels } = JSON.parse(deployFile('grafana/vapi-relay.json')) as Dashboard;
    expect(new Set(panels.map((panel) => panel.id)).size).toBe(panels.length);
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos, panel.title).toBeDefined();
    }
  });
});
