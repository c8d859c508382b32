// One Prometheus registry per process. Counters that several processes add to (workers parse,
// streams consume, the api reports) live in Redis and are read when /metrics is scraped.
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { ChainableCommander, Redis } from 'ioredis';

export const metrics = new Registry();
metrics.setDefaultLabels({ app: 'segpipe' });
collectDefaultMetrics({ register: metrics, prefix: 'segpipe_' });

const SHARED_PREFIX = 'segpipe:metrics:';

export interface SharedCounterSpec {
  name: string;
  help: string;
  labelNames: string[];
}

/** The shared counters every process may bump; the api exposes all of them. */
export const SHARED_COUNTERS = {
  moviesQuarantined: { name: 'segpipe_movies_quarantined_lines_total', help: 'Movies.txt lines quarantined, by reason', labelNames: ['reason'] },
  moviesItems: { name: 'segpipe_movies_items_total', help: 'Catalog items parsed, by outcome (produced or unchanged)', labelNames: ['outcome'] },
  moviesBytes: { name: 'segpipe_movies_bytes_total', help: 'Movies.txt bytes parsed', labelNames: [] },
  deadLetters: { name: 'segpipe_dead_letters_total', help: 'Messages sent to the dead-letter topic, by reason', labelNames: ['reason'] },
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
        for (const [labels, v] of Object.entries(values)) this.inc(JSON.parse(labels) as Record<string, string>, Number(v));
      },
    });
  }
}
