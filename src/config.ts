// Every setting comes from the environment, has a default where one is sensible, and is
// validated once at start. All problems are reported together so a user fixes them in one go.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** Simulator seeds: 0 to 2^31 - 1 wherever one is given (env, CLI, REST). */
export const MAX_SEED = 2 ** 31 - 1;

export const EVENT_NAMES = [
  'consumer_registration',
  'sign_in',
  'sign_out',
  'item_view',
  'added_to_cart',
  'checkout',
  'movies_catalog_enriched',
] as const;
export type EventName = (typeof EVENT_NAMES)[number];
/** What simulated users do: every event but the catalog's. */
export type UserEventName = Exclude<EventName, 'movies_catalog_enriched'>;
export const USER_EVENT_NAMES = EVENT_NAMES.filter((n): n is UserEventName => n !== 'movies_catalog_enriched');
/** The events that carry state (windows, sessions, sales): the stream role's topics. */
export const STATE_EVENT_NAMES = ['consumer_registration', 'sign_in', 'sign_out', 'checkout'] as const satisfies readonly UserEventName[];
export type StateEventName = (typeof STATE_EVENT_NAMES)[number];

const DEFAULT_TOPICS: Record<EventName, string> = {
  consumer_registration: 'consumer_registration_topic',
  sign_in: 'sign_in_topic',
  sign_out: 'sign_out_topic',
  item_view: 'item_view_topic',
  added_to_cart: 'added_to_cart',
  checkout: 'checkout_to_cart',
  movies_catalog_enriched: 'movies_catalog_enriched',
};

const topicEnv = (name: EventName) => `TOPIC_${name.toUpperCase()}`;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
const hostPort = z
  .string()
  .regex(/^[^\s:,]+:\d{1,5}$/, 'must be host:port')
  .transform((v) => v.trim());

const envSchema = z
  .object({
    LOCAL_DIR: z.string().min(1).default('.local'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    KAFKA_BROKERS: z
      .string()
      .default('127.0.0.1:9092')
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(hostPort).min(1, 'needs at least one host:port')),
    KAFKA_CLIENT_ID: z.string().min(1).default('segpipe'),
    KAFKA_PARTITIONS: int(1, 1024).default(6),
    KAFKA_CATALOG_PARTITIONS: int(1, 1024).default(3),
    KAFKA_REPLICATION_FACTOR: int(1, 16).default(1),
    KAFKA_COMPRESSION: z.enum(['none', 'gzip', 'snappy']).default('snappy'),
    TOPIC_DLQ: z.string().min(1).default('segpipe.dlq'),

    SCHEMA_REGISTRY_URL: url(['http:', 'https:']).default('http://127.0.0.1:8081'),
    SCHEMA_REGISTRY_COMPATIBILITY: z
      .enum(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'])
      .default('BACKWARD'),

    REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
    REDIS_APPENDONLY: bool.default(true),

    WAREHOUSE: z.enum(['duckdb', 'snowflake']).default('duckdb'),
    DUCKDB_PATH: z.string().optional(),
    // DuckDB's own default is 80% of RAM, which leaves Node, Kafka's client and Redis too little.
    DUCKDB_MEMORY_LIMIT: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must be a size such as 2GB or 512MiB')
      .optional(),
    SNOWFLAKE_ACCOUNT: z.string().optional(),
    SNOWFLAKE_USER: z.string().optional(),
    SNOWFLAKE_AUTH: z.enum(['password', 'keypair']).default('password'),
    SNOWFLAKE_PASSWORD: z.string().optional(),
    SNOWFLAKE_PRIVATE_KEY_PATH: z.string().optional(),
    SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: z.string().optional(),
    SNOWFLAKE_DATABASE: z.string().optional(),
    SNOWFLAKE_SCHEMA: z.string().default('PUBLIC'),
    SNOWFLAKE_WAREHOUSE: z.string().optional(),
    SNOWFLAKE_ROLE: z.string().optional(),
    SNOWFLAKE_HOST: z.string().optional(),

    DATA_DIR: z.string().min(1).default('data'),
    MOVIES_SCAN_CRON: z
      .string()
      .regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron pattern with 5 or 6 fields')
      .default('0 * * * *'),
    MOVIES_WATCH: bool.default(true),
    MOVIES_SEED_SAMPLE: bool.default(true),
    MOVIES_STABLE_MS: int(100, 600_000).default(2000),
    // Past a few MB a range gains nothing; a parse thread's heap grows with it (pool.ts).
    MOVIES_CHUNK_MB: int(1, 64).default(1),
    PARSE_THREADS: int(1, 256).default(os.availableParallelism()),

    SIMULATOR_BURST_EVENTS: int(0, 10_000_000).default(2000),
    SIMULATOR_BURST_EVERY_S: int(1, 86_400).default(30),
    SIMULATOR_SEED: int(0, MAX_SEED).default(42),
    SIMULATOR_BURST_MODE: z.enum(['live', 'fast-forward']).default('live'),
    SIMULATOR_MAX_EVENTS: int(1, 1_000_000_000).default(10_000_000),
    SIMULATOR_MIN_RATE: z.coerce.number().positive().max(1e9).default(1),
    SIMULATOR_MAX_RUN_S: int(1, 7 * 86_400).default(3600),

    FLUSH_EVERY_MS: int(100, 3_600_000).default(5000),
    STREAM_GROUP_ID: z.string().min(1).default('segpipe-stream'),
    LOADER_GROUP_ID: z.string().min(1).default('segpipe-loader'),
    ALLOWED_LATENESS_MS: int(0, 365 * 86_400_000).default(600_000),
    DEDUP_HORIZON_MS: int(0, 365 * 86_400_000).default(3_600_000),
    MAX_EVENT_TIME_SKEW_MS: int(60_000, 365 * 86_400_000).default(86_400_000),
    SESSION_TIMEOUT_MS: int(1000, 30 * 86_400_000).default(1_800_000),

    API_HOST: z.string().default('127.0.0.1'),
    API_PORT: int(0, 65535).default(3000),
    ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    SESSION_TTL_HOURS: int(1, 720).default(12),
    TRUST_PROXY: z
      .string()
      .default('false')
      .transform((v) => (v === 'false' || v === '0' ? false : v === 'true' || v === '1' ? true : v.split(',').map((s) => s.trim()).filter(Boolean)))
      .pipe(z.union([z.boolean(), z.array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'must be true, false or a list of proxy addresses (CIDR allowed)')).min(1)])),
    LOGIN_ATTEMPTS_PER_MIN: int(1, 1000).default(10),

    ...Object.fromEntries(EVENT_NAMES.map((n) => [topicEnv(n), z.string().min(1).default(DEFAULT_TOPICS[n])])),
  })
  .superRefine((env, ctx) => {
    if (env.DEDUP_HORIZON_MS < env.ALLOWED_LATENESS_MS) ctx.addIssue({ code: 'custom', path: ['DEDUP_HORIZON_MS'], message: 'must be at least ALLOWED_LATENESS_MS (an event inside the lateness must still be told from a re-sent one)' });
    if (env.SIMULATOR_BURST_EVENTS > env.SIMULATOR_MAX_EVENTS) ctx.addIssue({ code: 'custom', path: ['SIMULATOR_BURST_EVENTS'], message: 'must be at most SIMULATOR_MAX_EVENTS' });
    if (env.WAREHOUSE !== 'snowflake') return;
    const need = (key: keyof typeof env) => {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'is required when WAREHOUSE=snowflake' });
    };
    need('SNOWFLAKE_ACCOUNT');
    need('SNOWFLAKE_USER');
    need('SNOWFLAKE_DATABASE');
    need('SNOWFLAKE_WAREHOUSE');
    need(env.SNOWFLAKE_AUTH === 'password' ? 'SNOWFLAKE_PASSWORD' : 'SNOWFLAKE_PRIVATE_KEY_PATH');
  });

type Env = z.infer<typeof envSchema>;

export interface Config {
  localDir: string;
  logLevel: Env['LOG_LEVEL'];
  kafka: {
    brokers: string[];
    clientId: string;
    partitions: number;
    catalogPartitions: number;
    replicationFactor: number;
    compression: Env['KAFKA_COMPRESSION'];
  };
  topics: Record<EventName, string> & { dlq: string };
  registry: { url: string; compatibility: Env['SCHEMA_REGISTRY_COMPATIBILITY'] };
  redis: { url: string; appendonly: boolean };
  warehouse:
    | { kind: 'duckdb'; path: string; /** DuckDB memory_limit (buffer manager), e.g. 2GB. */ memoryLimit: string }
    | {
        kind: 'snowflake';
        account: string;
        user: string;
        auth: 'password' | 'keypair';
        password?: string;
        privateKeyPath?: string;
        privateKeyPassphrase?: string;
        database: string;
        schema: string;
        warehouse: string;
        role?: string;
        host?: string;
      };
  api: {
    host: string;
    port: number;
    adminToken?: string;
    sessionTtlMs: number;
    loginAttemptsPerMinute: number;
    /** Fastify's trustProxy: client address, scheme and host from X-Forwarded-* of these proxies. */
    trustProxy: boolean | string[];
  };
  stream: {
    groupId: string;
    /** The raw loader's consumer group (its committed offsets are only a hint: the warehouse holds the position). */
    loaderGroupId: string;
    flushEveryMs: number;
    /** How far behind the newest event time an event may arrive before its window is final. */
    latenessMs: number;
    /** Event time behind a partition's newest within which a re-sent event_id is recognised; older events are refused from state. */
    dedupHorizonMs: number;
    /** How far an event time may be ahead of both its Kafka record time and its partition's newest event time (future_timestamp beyond). */
    maxSkewMs: number;
    /** A session with no sign-out (or new sign-in) ends this long after its sign-in, timed out. */
    sessionTimeoutMs: number;
  };
  simulator: {
    /** Events per `simulate:burst`; 0 turns the repeatable burst off. */
    burstEvents: number;
    burstEverySeconds: number;
    /** live: each burst carries the live world from the last burst to now; fast-forward: a day of new users per burst, ahead of the clock. */
    burstMode: 'live' | 'fast-forward';
    seed: number;
    /** Bounds of one run (REST, CLI, a job), so no run holds the simulator queue for good. */
    maxEvents: number;
    minRate: number;
    maxRunSeconds: number;
    /** How far ahead of now a run may start: MAX_EVENT_TIME_SKEW_MS, beyond which its events would be dead letters. */
    maxStartAheadMs: number;
  };
  movies: {
    /** DATA_DIR, absolute: files named by requests and jobs must lie inside it. */
    dataDir: string;
    incomingDir: string;
    processedDir: string;
    quarantineDir: string;
    scanCron: string;
    watch: boolean;
    /** Ingest the sample data/Movies.txt once when the catalog is empty (a fresh install). */
    seedSample: boolean;
    stableMs: number;
    chunkBytes: number;
    threads: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n') +
        '\nSet or fix these environment variables; see the configuration table in README.md.',
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      // The variable and its rule only: a rejected value may be a secret (a short ADMIN_TOKEN, a URL with a password).
      parsed.error.issues.map((i) => `${String(i.path[0] ?? '')}: ${i.message}`),
    );
  }
  const e = parsed.data as Env & Record<string, string>;
  const localDir = path.resolve(e.LOCAL_DIR);
  return {
    localDir,
    logLevel: e.LOG_LEVEL,
    kafka: {
      brokers: e.KAFKA_BROKERS,
      clientId: e.KAFKA_CLIENT_ID,
      partitions: e.KAFKA_PARTITIONS,
      catalogPartitions: e.KAFKA_CATALOG_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
      compression: e.KAFKA_COMPRESSION,
    },
    topics: {
      ...(Object.fromEntries(EVENT_NAMES.map((n) => [n, e[topicEnv(n)]])) as Record<EventName, string>),
      dlq: e.TOPIC_DLQ,
    },
    registry: { url: e.SCHEMA_REGISTRY_URL.replace(/\/+$/, ''), compatibility: e.SCHEMA_REGISTRY_COMPATIBILITY },
    redis: { url: e.REDIS_URL, appendonly: e.REDIS_APPENDONLY },
    warehouse:
      e.WAREHOUSE === 'duckdb'
        ? { kind: 'duckdb', path: path.resolve(e.DUCKDB_PATH ?? path.join(localDir, 'warehouse.duckdb')), memoryLimit: e.DUCKDB_MEMORY_LIMIT ?? defaultDuckdbMemory() }
        : {
            kind: 'snowflake',
            account: e.SNOWFLAKE_ACCOUNT!,
            user: e.SNOWFLAKE_USER!,
            auth: e.SNOWFLAKE_AUTH,
            password: e.SNOWFLAKE_PASSWORD,
            privateKeyPath: e.SNOWFLAKE_PRIVATE_KEY_PATH,
            privateKeyPassphrase: e.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE,
            database: e.SNOWFLAKE_DATABASE!,
            schema: e.SNOWFLAKE_SCHEMA,
            warehouse: e.SNOWFLAKE_WAREHOUSE!,
            role: e.SNOWFLAKE_ROLE,
            host: e.SNOWFLAKE_HOST,
          },
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      adminToken: e.ADMIN_TOKEN,
      sessionTtlMs: e.SESSION_TTL_HOURS * 3_600_000,
      loginAttemptsPerMinute: e.LOGIN_ATTEMPTS_PER_MIN,
      trustProxy: e.TRUST_PROXY,
    },
    stream: { groupId: e.STREAM_GROUP_ID, loaderGroupId: e.LOADER_GROUP_ID, flushEveryMs: e.FLUSH_EVERY_MS, latenessMs: e.ALLOWED_LATENESS_MS, dedupHorizonMs: e.DEDUP_HORIZON_MS, maxSkewMs: e.MAX_EVENT_TIME_SKEW_MS, sessionTimeoutMs: e.SESSION_TIMEOUT_MS },
    simulator: {
      burstEvents: e.SIMULATOR_BURST_EVENTS,
      burstEverySeconds: e.SIMULATOR_BURST_EVERY_S,
      burstMode: e.SIMULATOR_BURST_MODE,
      seed: e.SIMULATOR_SEED,
      maxEvents: e.SIMULATOR_MAX_EVENTS,
      minRate: e.SIMULATOR_MIN_RATE,
      maxRunSeconds: e.SIMULATOR_MAX_RUN_S,
      maxStartAheadMs: e.MAX_EVENT_TIME_SKEW_MS,
    },
    movies: {
      dataDir: path.resolve(e.DATA_DIR),
      incomingDir: path.resolve(e.DATA_DIR, 'incoming'),
      processedDir: path.resolve(e.DATA_DIR, 'processed'),
      quarantineDir: path.resolve(e.DATA_DIR, 'quarantine'),
      scanCron: e.MOVIES_SCAN_CRON,
      watch: e.MOVIES_WATCH,
      seedSample: e.MOVIES_SEED_SAMPLE,
      stableMs: e.MOVIES_STABLE_MS,
      chunkBytes: e.MOVIES_CHUNK_MB * 1024 * 1024,
      threads: e.PARSE_THREADS,
    },
  };
}

/** Settings documented in README's configuration table; a test keeps the two in sync. */
export const CONFIG_KEYS = Object.keys(envSchema.shape);

/** Half of this machine's RAM, in MiB: DuckDB's share when DUCKDB_MEMORY_LIMIT is not set. */
export const defaultDuckdbMemory = (): string => `${Math.max(256, Math.floor(os.totalmem() / 2 / 1024 / 1024))}MiB`;
