// One Prometheus registry per process. Counters that several processes add to (workers parse,
// streams consume, the api reports) live in Redis and are read when /metrics is scraped.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChainableCommander, Redis } from 'ioredis';

export const metrics = new Registry();
metrics.setDefaultLabels({ app: 'segpipe' });
collectDefaultMetrics({ register: metrics, prefix: 'segpipe_' });

const SHARED_PREFIX = 'segpipe:metrics:';

export interface SharedCounterSpec {
  name: string;
  help: string;
  labelNames: string[];
  /** Series exported at 0 before anything counted them, so an alert on a rate has a series to watch. */
  zeroes?: Array<Record<string, string>>;
}

/** Every reason a message becomes a dead letter (the loader's, the stream's, and stubs). */
const DEAD_LETTER_REASONS = [
  'wrong_magic_byte',
  'unknown_schema_id',
  'truncated_body',
  'invalid_body',
  'missing_required_field',
  'invalid_timestamp',
  'wrong_event_name',
  'invalid_value',
  'future_timestamp',
  'late',
  'too_large',
];

/** The shared counters every process may bump; the api exposes all of them. */
export const SHARED_COUNTERS = {
  moviesQuarantined: { name: 'segpipe_movies_quarantined_lines_total', help: 'Movies.txt lines quarantined, by reason', labelNames: ['reason'] },
  moviesItems: { name: 'segpipe_movies_items_total', help: 'Catalog items parsed, by outcome (produced or unchanged)', labelNames: ['outcome'] },
  moviesBytes: { name: 'segpipe_movies_bytes_total', help: 'Movies.txt bytes parsed', labelNames: [] },
  deadLetters: { name: 'segpipe_dead_letters_total', help: 'Messages sent to the dead-letter topic, by reason', labelNames: ['reason'], zeroes: DEAD_LETTER_REASONS.map((reason) => ({ reason })) },
  streamEvents: { name: 'segpipe_stream_events_applied_total', help: 'State events the stream applied to Redis, by topic (re-sent ones not counted)', labelNames: ['topic'] },
  jobRuns: { name: 'segpipe_job_runs_total', help: 'BullMQ jobs finished, by queue, job name and status (completed or failed)', labelNames: ['queue', 'name', 'status'] },
  jobSeconds: { name: 'segpipe_job_seconds_total', help: 'Seconds BullMQ jobs ran, by queue and job name (divide by segpipe_job_runs_total for the mean)', labelNames: ['queue', 'name'] },
  warehouseRows: { name: 'segpipe_warehouse_rows_merged_total', help: 'Rows loaded or merged into the warehouse, by table', labelNames: ['table'] },
  streamOffsetsLost: { name: 'segpipe_stream_offsets_lost_total', help: 'Offsets Kafka deleted before the stream applied them (their state is missing), by topic', labelNames: ['topic'] },
  moviesRuns: { name: 'segpipe_movies_runs_total', help: 'Movie file ingestion runs, by status', labelNames: ['status'] },
} satisfies Record<string, SharedCounterSpec>;

/** On a connection, or queued on a MULTI or pipeline to go with the change it counts. */
export function bumpShared(redis: Redis | ChainableCommander, spec: SharedCounterSpec, labels: Record<string, string>, by = 1): unknown {
  return redis.hincrbyfloat(SHARED_PREFIX + spec.name, JSON.stringify(labels), by);
}

/** Registers every shared counter with a collect() that reads its current values from Redis. */
export function exposeSharedCounters(redis: Redis, registry: Registry = metrics): void {
  for (const spec of Object.values(SHARED_COUNTERS) as SharedCounterSpec[]) {
    if (registry.getSingleMetric(spec.name)) registry.removeSingleMetric(spec.name);
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: spec.labelNames,
      registers: [registry],
      async collect() {
        const values = await redis.hgetall(SHARED_PREFIX + spec.name).catch(() => ({}) as Record<string, string>);
        this.reset();
        for (const labels of spec.zeroes ?? []) this.inc(labels, 0);
        for (const [labels, v] of Object.entries(values)) this.inc(JSON.parse(labels) as Record<string, string>, Number(v));
      },
    });
  }
}

/**
 * Gauges read from the pipeline when /metrics is scraped: each consumer group's lag per topic,
 * and BullMQ's job counts per queue and state.
 */
export function exposePipelineGauges(sources: { lag: () => Promise<Map<string, Array<{ loader_lag: number; stream_lag?: number }>>>; jobCounts: () => Promise<Record<string, Record<string, number>>> }, registry: Registry = metrics): void {
  for (const name of ['segpipe_consumer_lag_messages', 'segpipe_queue_jobs']) if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  new Gauge({
    name: 'segpipe_consumer_lag_messages',
    help: "Messages behind Kafka's end per consumer group (loader, stream) and topic, from the groups' commits (an upper bound: the positions of record are in the warehouse and Redis)",
    labelNames: ['group', 'topic'],
    registers: [registry],
    async collect() {
      this.reset();
      const lag = await sources.lag().catch(() => new Map<string, Array<{ loader_lag: number; stream_lag?: number }>>());
      for (const [topic, parts] of lag) {
        this.set({ group: 'loader', topic }, parts.reduce((s, p) => s + p.loader_lag, 0));
        if (parts.some((p) => p.stream_lag !== undefined)) this.set({ group: 'stream', topic }, parts.reduce((s, p) => s + (p.stream_lag ?? 0), 0));
      }
    },
  });
  new Gauge({
    name: 'segpipe_queue_jobs',
    help: 'BullMQ jobs per queue and state (failed jobs stay until removed: alert on a rise)',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = await sources.jobCounts().catch(() => ({}) as Record<string, Record<string, number>>);
      for (const [queue, states] of Object.entries(counts)) for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
    },
  });
}
