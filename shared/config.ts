import { isIP } from 'node:net';
import { z } from 'zod';
import { QUEUE_KEYS, type QueueKey } from './queues/catalog.ts';

/** The three processes the product runs as; each validates and holds only what it uses. */
export const ROLES = ['ingress', 'worker', 'relay'] as const;
export type Role = (typeof ROLES)[number];

/** Secrets that must never fall back to a default; see secrets.ts for how they are provided. */
export const SECRET_VARIABLES = ['VAPI_WEBHOOK_SECRET', 'RELAY_JWT_SECRET', 'DATA_ENCRYPTION_KEY', 'ADMIN_TOKEN', 'NOTIFY_WEBHOOK_SECRET'] as const;
export type SecretName = (typeof SECRET_VARIABLES)[number];

/** Which secrets each role holds (least privilege: the worker never sees the webhook secret, and so on). */
export const ROLE_SECRETS: Record<Role, readonly SecretName[]> = {
  ingress: ['VAPI_WEBHOOK_SECRET', 'DATA_ENCRYPTION_KEY', 'ADMIN_TOKEN'],
  worker: ['DATA_ENCRYPTION_KEY', 'ADMIN_TOKEN', 'NOTIFY_WEBHOOK_SECRET'],
  relay: ['RELAY_JWT_SECRET', 'DATA_ENCRYPTION_KEY', 'ADMIN_TOKEN'],
};

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const portNumber = z.coerce.number().int().min(0).max(65535);
const port = (fallback: number) => portNumber.default(fallback);
/** A port that is off unless set (absent or empty: none). */
const optionalPort = z.union([z.literal('').transform(() => undefined), portNumber]).optional();
const listenHost = z.string().default('0.0.0.0');
const count = (fallback: number, max: number) => z.coerce.number().int().min(0).max(max).default(fallback);
/** A retention period in days: decimals allowed, 0 keeps forever. */
const retentionDays = (fallback: number) => z.coerce.number().min(0).max(36_500, 'retention periods are in days, at most 100 years').default(fallback);

/** Placeholders copied from examples; accepting one would make the deployment's secret public knowledge. */
const WELL_KNOWN_SECRETS = new Set(['secret', 'changeme', 'change-me', 'password', 'admin', 'token', 'test', 'your-secret', 'example']);

const isWellKnown = (value: string) => WELL_KNOWN_SECRETS.has(value.toLowerCase());

const secret = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .min(1, `${name} is required`)
    .refine((value) => !isWellKnown(value), `${name} is a well-known placeholder; use a random value`);

const secretList = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .transform(list)
    .refine((items) => items.length > 0, `${name} is required`)
    .refine((items) => !items.some(isWellKnown), `${name} holds a well-known placeholder; use a random value`);

const encryptionKeys = secretList('DATA_ENCRYPTION_KEY').transform((items, ctx) =>
  items.map((item) => {
    const key = Buffer.from(item, 'base64');
    if (key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'DATA_ENCRYPTION_KEY entries must be 32 bytes, base64-encoded' });
    }
    return key;
  }),
);

/** A Standard Webhooks signing key: `whsec_` and at least 24 random bytes in base64. */
const webhookSigningKey = z
  .string()
  .default('')
  .refine(
    (value) => value === '' || (/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value) && Buffer.from(value.slice(6), 'base64').length >= 24),
    'NOTIFY_WEBHOOK_SECRET must be whsec_ followed by at least 24 bytes in base64',
  );

/** proxy-addr's names for address ranges, which Fastify's trustProxy takes in a list too. */
const RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IPv4 or IPv6 address, optionally with a CIDR prefix length (or a range name): what Fastify's trustProxy takes in a list. */
const isAddressOrCidr = (item: string) => {
  if (RANGE_NAMES.has(item)) return true;
  const [address = '', bits, extra] = item.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128));
};

const TRUST_PROXY_FORMS = 'true, false, or comma-separated proxy IP addresses/CIDRs (or loopback, linklocal, uniquelocal)';

/**
 * `TRUST_PROXY`: whose X-Forwarded-For to believe for the client IP (rate limits, audit), as
 * Fastify's trustProxy takes it: true or false, or the proxies' addresses and CIDRs. A hop count
 * is refused: Fastify 5 fails closed on one (it trusts no hop), so it would silently mean false.
 */
const trustProxy = z
  .string()
  .default('false')
  .transform((value, ctx): boolean | string[] => {
    if (value === 'true') return true;
    if (value === 'false' || value === '') return false;
    if (/^\d+$/.test(value.trim())) {
      ctx.addIssue({
        code: 'custom',
        message: `TRUST_PROXY must be ${TRUST_PROXY_FORMS}; a hop count (${value}) trusts no proxy in Fastify 5: name the proxies`,
      });
      return false;
    }
    const items = list(value);
    const bad = items.filter((item) => !isAddressOrCidr(item));
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `TRUST_PROXY must be ${TRUST_PROXY_FORMS}; not ${bad.join(', ')}` });
    return items;
  });

/** The modes a process runs in; anything else (`prod`) is a typo that would quietly run as development. */
export const NODE_ENVS = ['development', 'production', 'test'] as const;
export const nodeEnvSchema = z.enum(NODE_ENVS, { error: `NODE_ENV must be one of ${NODE_ENVS.join(', ')}` }).default('development');

const isQueueKey = (name: string): name is QueueKey => (QUEUE_KEYS as readonly string[]).includes(name);

/**
 * `WORKER_QUEUES`: the catalog's queues one worker process consumes, in catalog order; all of them
 * when unset. An unknown name or an empty list is refused: a typo must not start a worker that
 * consumes nothing, or not what the operator meant.
 */
const workerQueues = z
  .string()
  .optional()
  .transform((value, ctx): readonly QueueKey[] => {
    if (value === undefined) return QUEUE_KEYS;
    const names = list(value);
    const unknown = [...new Set(names.filter((name) => !isQueueKey(name)))];
    const queues = `the queues are ${QUEUE_KEYS.join(', ')} (comma-separated; unset for all)`;
    if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `unknown queue name(s) ${unknown.join(', ')}; ${queues}` });
    else if (names.length === 0) ctx.addIssue({ code: 'custom', message: `no queue named; ${queues}` });
    return QUEUE_KEYS.filter((key) => names.includes(key));
  });

/** The queues a worker started with this environment consumes (all when WORKER_QUEUES is unset or invalid: loadConfig says why). */
export const workerQueuesIn = (env: NodeJS.ProcessEnv): readonly QueueKey[] => workerQueues.safeParse(env.WORKER_QUEUES).data ?? QUEUE_KEYS;

/** Vapi's `payloadFormat`: as configured, else what Vapi signs with or without a timestamp. */
const payloadFormatOf = (env: { VAPI_SIGNATURE_PAYLOAD: string; VAPI_TIMESTAMP_HEADER: string }) =>
  env.VAPI_SIGNATURE_PAYLOAD || (env.VAPI_TIMESTAMP_HEADER ? '{timestamp}.{body}' : '{body}');

/** What every role reads. */
const commonSchema = z
  .object({
    NODE_ENV: nodeEnvSchema,
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    HOST: listenHost,
    DATABASE_URL: z.url().default('postgres://postgres@127.0.0.1:5432/vapi_relay'),
    REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
    // host:port of some Redis Cluster nodes, comma-separated: when set, a cluster instead of REDIS_URL.
    REDIS_CLUSTER_NODES: z
      .string()
      .default('')
      .transform((value) =>
        value
          .split(',')
          .map((node) => node.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'REDIS_CLUSTER_NODES entries are host:port'))),
    QUEUE_PREFIX: z.string().min(1).default('{vapi}'),
    DATA_ENCRYPTION_KEY: encryptionKeys,
    ADMIN_TOKEN: secret('ADMIN_TOKEN'),
    // Tracing is on when an OTLP endpoint is set; the SDK reads the other OTEL_* variables itself.
    OTEL_EXPORTER_OTLP_ENDPOINT: z.union([z.literal(''), z.url()]).default(''),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.union([z.literal(''), z.url()]).default(''),
    OTEL_SERVICE_NAME: z.string().default(''),
  })
  .transform((env) => ({
    nodeEnv: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    host: env.HOST,
    databaseUrl: env.DATABASE_URL,
    redis: { url: env.REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES },
    queuePrefix: env.QUEUE_PREFIX,
    dataEncryptionKeys: env.DATA_ENCRYPTION_KEY,
    adminToken: env.ADMIN_TOKEN,
    tracing: { enabled: Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT), serviceName: env.OTEL_SERVICE_NAME || undefined },
  }));

const ingressSchema = z
  .object({
    PORT: port(3000),
    // The admin scope on a listener of its own (a private address), and not on PORT.
    ADMIN_PORT: optionalPort,
    ADMIN_HOST: z.string().default(''),
    HOST: listenHost,
    VAPI_WEBHOOK_SECRET: secretList('VAPI_WEBHOOK_SECRET'),
    VAPI_AUTH: z.enum(['hmac', 'bearer', 'secret']).default('hmac'),
    VAPI_SIGNATURE_HEADER: z
      .string()
      .min(1)
      .default('x-vapi-signature')
      .transform((h) => h.toLowerCase()),
    VAPI_SIGNATURE_ALGORITHM: z.enum(['sha256', 'sha512', 'sha1']).default('sha256'),
    VAPI_SIGNATURE_ENCODING: z.enum(['hex', 'base64']).default('hex'),
    VAPI_SIGNATURE_PREFIX: z.string().default(''),
    VAPI_TIMESTAMP_HEADER: z
      .string()
      .default('')
      .transform((h) => h.toLowerCase()),
    VAPI_SIGNATURE_PAYLOAD: z.string().default(''),
    VAPI_MESSAGE_ID_HEADER: z
      .string()
      .default('')
      .transform((h) => h.toLowerCase()),
    VAPI_TIMESTAMP_TOLERANCE_S: z.coerce.number().int().min(1).max(86_400, 'VAPI_TIMESTAMP_TOLERANCE_S is in seconds, at most a day').default(300),
    VAPI_SECRET_IS_BASE64: z.enum(['true', 'false']).default('false'),
    VAPI_WEBHOOK_URL: z.string().default(''),
    VAPI_ASSISTANT_ID: z.string().default(''),
    WEBHOOK_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(5 * 1024 * 1024),
    // At most Vapi's default tool timeout (20 s): an answer after Vapi gave up is heard by no one,
    // and a shutdown's grace (services/main.ts) covers a tool call in flight.
    TOOL_DEADLINE_MS: z.coerce.number().int().min(100).max(20_000).default(15_000),
    RATE_LIMIT_UNVERIFIED_PER_MIN: count(50, 1_000_000),
    RATE_LIMIT_VERIFIED_PER_MIN: count(0, 10_000_000),
    TRUST_PROXY: trustProxy,
    SPOOL_DIR: z.string().min(1).default('var/spool'),
    SPOOL_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1024 * 1024)
      .default(1024 * 1024 * 1024),
  })
  .superRefine((env, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (env.ADMIN_PORT !== undefined && env.ADMIN_PORT !== 0 && env.ADMIN_PORT === env.PORT) problem('ADMIN_PORT', 'ADMIN_PORT must differ from PORT');
    // Parts of the signed payload that would be unsigned, or empty, make a signature meaningless.
    if (env.VAPI_AUTH !== 'hmac') return;
    const format = payloadFormatOf(env);
    if (!format.includes('{body}')) problem('VAPI_SIGNATURE_PAYLOAD', 'VAPI_SIGNATURE_PAYLOAD must include {body}');
    if (env.VAPI_TIMESTAMP_HEADER && !format.includes('{timestamp}')) {
      problem('VAPI_SIGNATURE_PAYLOAD', 'VAPI_SIGNATURE_PAYLOAD must include {timestamp} when VAPI_TIMESTAMP_HEADER is set, or the timestamp is unsigned');
    }
    if (format.includes('{timestamp}') && !env.VAPI_TIMESTAMP_HEADER) {
      problem('VAPI_TIMESTAMP_HEADER', 'VAPI_SIGNATURE_PAYLOAD uses {timestamp}: set VAPI_TIMESTAMP_HEADER');
    }
    if (format.includes('{svix-id}') && !env.VAPI_MESSAGE_ID_HEADER) {
      problem('VAPI_MESSAGE_ID_HEADER', 'VAPI_SIGNATURE_PAYLOAD uses {svix-id}: set VAPI_MESSAGE_ID_HEADER');
    }
    if (format.includes('{url}') && !env.VAPI_WEBHOOK_URL) problem('VAPI_WEBHOOK_URL', 'VAPI_SIGNATURE_PAYLOAD uses {url}: set VAPI_WEBHOOK_URL');
  })
  .transform((env) => ({
    ingressPort: env.PORT,
    adminListener: env.ADMIN_PORT === undefined ? undefined : { host: env.ADMIN_HOST || env.HOST, port: env.ADMIN_PORT },
    vapi: {
      secrets: env.VAPI_WEBHOOK_SECRET,
      auth: env.VAPI_AUTH,
      signatureHeader: env.VAPI_SIGNATURE_HEADER,
      algorithm: env.VAPI_SIGNATURE_ALGORITHM,
      encoding: env.VAPI_SIGNATURE_ENCODING,
      signaturePrefix: env.VAPI_SIGNATURE_PREFIX,
      timestampHeader: env.VAPI_TIMESTAMP_HEADER,
      payloadFormat: payloadFormatOf(env),
      messageIdHeader: env.VAPI_MESSAGE_ID_HEADER,
      timestampToleranceS: env.VAPI_TIMESTAMP_TOLERANCE_S,
      secretIsBase64: env.VAPI_SECRET_IS_BASE64 === 'true',
      webhookUrl: env.VAPI_WEBHOOK_URL,
      assistantId: env.VAPI_ASSISTANT_ID,
      bodyLimitBytes: env.WEBHOOK_BODY_LIMIT_BYTES,
    },
    toolDeadlineMs: env.TOOL_DEADLINE_MS,
    rateLimit: { unverifiedPerMinute: env.RATE_LIMIT_UNVERIFIED_PER_MIN, verifiedPerMinute: env.RATE_LIMIT_VERIFIED_PER_MIN },
    trustProxy: env.TRUST_PROXY,
    spool: { dir: env.SPOOL_DIR, maxBytes: env.SPOOL_MAX_BYTES },
  }));

const workerSchema = z
  .object({
    WORKER_PORT: port(3002),
    // Events jobs one process holds at once: what a group commit can gather (docs/storage.md). Held
    // jobs cost no connection, and BullMQ's round trip per job caps a worker at about this many per
    // round trip.
    WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64),
    WORKER_QUEUES: workerQueues,
    NOTIFY_WEBHOOK_URL: z
      .string()
      .default('')
      .transform(list)
      .pipe(z.array(z.url({ protocol: /^https?$/, error: 'NOTIFY_WEBHOOK_URL entries must be http(s) URLs' }))),
    NOTIFY_WEBHOOK_SECRET: webhookSigningKey,
    NOTIFY_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5_000),
    // Decimals allowed (tests reconcile within a second); at most 30 days.
    RECONCILE_AFTER_S: z.coerce
      .number()
      .positive()
      .max(30 * 86_400, 'RECONCILE_AFTER_S is in seconds, at most 30 days')
      .default(900),
    VAPI_API_KEY: z.string().default(''),
    VAPI_API_URL: z.url({ protocol: /^https?$/, error: 'VAPI_API_URL must be an http(s) URL' }).default('https://api.vapi.ai'),
    RETENTION_EVENT_PAYLOAD_DAYS: retentionDays(30),
    RETENTION_DELIVERY_DAYS: retentionDays(30),
    RETENTION_SESSION_DAYS: retentionDays(0),
    // The clinic's FHIR R4 server (docs/fhir.md): its base, no query or fragment, the trailing slash dropped.
    FHIR_BASE_URL: z
      .string()
      .default('')
      .pipe(z.union([z.literal(''), z.url({ protocol: /^https?$/, error: 'FHIR_BASE_URL must be an http(s) URL' })]))
      .refine((value) => !/[?#]/.test(value), 'FHIR_BASE_URL is the server base: no query or fragment')
      .transform((value) => value.replace(/\/+$/, '')),
    FHIR_AUTH_TOKEN: z
      .string()
      .default('')
      .refine((value) => !/\s/.test(value), 'FHIR_AUTH_TOKEN must not contain whitespace'),
  })
  .superRefine((env, ctx) => {
    // Only a process that delivers notifications signs them.
    if (env.NOTIFY_WEBHOOK_URL.length > 0 && !env.NOTIFY_WEBHOOK_SECRET && env.WORKER_QUEUES.includes('notifications')) {
      ctx.addIssue({ code: 'custom', path: ['NOTIFY_WEBHOOK_SECRET'], message: 'NOTIFY_WEBHOOK_SECRET is required when NOTIFY_WEBHOOK_URL is set' });
    }
    if (env.FHIR_AUTH_TOKEN && !env.FHIR_BASE_URL)
      ctx.addIssue({ code: 'custom', path: ['FHIR_AUTH_TOKEN'], message: 'FHIR_AUTH_TOKEN is set but FHIR_BASE_URL is not' });
    // Deliveries are recorded per endpoint URL: one URL taking both kinds would make one look delivered when the other was.
    if (env.FHIR_BASE_URL && env.NOTIFY_WEBHOOK_URL.some((url) => url.replace(/\/+$/, '') === env.FHIR_BASE_URL)) {
      ctx.addIssue({ code: 'custom', path: ['FHIR_BASE_URL'], message: 'FHIR_BASE_URL must not also be one of NOTIFY_WEBHOOK_URL' });
    }
  })
  .transform((env) => ({
    workerPort: env.WORKER_PORT,
    workerConcurrency: env.WORKER_CONCURRENCY,
    workerQueues: env.WORKER_QUEUES,
    notify: { urls: env.NOTIFY_WEBHOOK_URL, secret: env.NOTIFY_WEBHOOK_SECRET, retryBaseMs: env.NOTIFY_RETRY_BASE_MS },
    reconcile: { afterS: env.RECONCILE_AFTER_S, vapiApiKey: env.VAPI_API_KEY, vapiApiUrl: env.VAPI_API_URL.replace(/\/+$/, '') },
    retention: { eventPayloadDays: env.RETENTION_EVENT_PAYLOAD_DAYS, deliveryDays: env.RETENTION_DELIVERY_DAYS, sessionDays: env.RETENTION_SESSION_DAYS },
    fhir: { baseUrl: env.FHIR_BASE_URL, authToken: env.FHIR_AUTH_TOKEN },
  }));

const relaySchema = z
  .object({
    RELAY_PORT: port(3001),
    RELAY_JWT_SECRET: secret('RELAY_JWT_SECRET'),
    // An app keeps one socket per device; a patient with more than this on one relay is not an app.
    RELAY_MAX_SOCKETS_PER_PATIENT: z.coerce.number().int().min(1).max(10_000).default(16),
    // A token valid for longer than this is refused, however it was minted (in ms by mistake, 1e300).
    RELAY_TOKEN_MAX_TTL_S: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 86_400, 'RELAY_TOKEN_MAX_TTL_S is in seconds, at most 30 days')
      .default(86_400),
  })
  .transform((env) => ({
    relayPort: env.RELAY_PORT,
    relayJwtSecret: env.RELAY_JWT_SECRET,
    relayMaxSocketsPerPatient: env.RELAY_MAX_SOCKETS_PER_PATIENT,
    relayTokenMaxTtlS: env.RELAY_TOKEN_MAX_TTL_S,
  }));

const ROLE_SCHEMAS = { ingress: ingressSchema, worker: workerSchema, relay: relaySchema };

export type CommonConfig = z.output<typeof commonSchema>;
type Sections = { [R in Role]: z.output<(typeof ROLE_SCHEMAS)[R]> };
type Intersect<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The configuration of a process running `R` (one role, or several in one process). */
export type ConfigFor<R extends Role> = Readonly<CommonConfig & Intersect<Sections[R]>>;
export type IngressConfig = ConfigFor<'ingress'>;
export type WorkerConfig = ConfigFor<'worker'>;
export type RelayConfig = ConfigFor<'relay'>;
/** Every role in one process: `npm start` and the tests. */
export type Config = ConfigFor<Role>;
export type VapiAuthConfig = IngressConfig['vapi'];

/** Thrown when the environment does not describe a runnable service; the message names each bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates an environment (process.env by default) into a typed, frozen config holding only what
 * `roles` use: a variable of another role is neither read nor required.
 */
export function loadConfig<R extends Role = Role>(env: NodeJS.ProcessEnv = process.env, roles: readonly R[] = ROLES as unknown as R[]): ConfigFor<R> {
  const schemas = [commonSchema, ...roles.map((role) => ROLE_SCHEMAS[role])];
  const problems: string[] = [];
  const sections = schemas.map((schema) => {
    const result = schema.safeParse(env);
    if (!result.success) problems.push(...result.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`));
    return result.data;
  });
  if (problems.length > 0) throw new ConfigError(`Invalid configuration:\n${[...new Set(problems)].join('\n')}`);
  return Object.freeze(Object.assign({}, ...sections)) as ConfigFor<R>;
}

/** Just the database URL, for tools (migrations, seed) that must run before any secret exists. */
export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return commonSchema.in.shape.DATABASE_URL.parse(env.DATABASE_URL);
}
