// Before a one-shot command (verify, simulate, movies ingest) talks to the services: which of them
// do not answer at all. Without this, kafkajs retries for half a minute and prints a JSON error
// line per attempt before the command fails with a stack trace.
import type { Config } from '../config.ts';
import { redactUrl } from '../redact.ts';
import { isPortOpen } from './process.ts';
import { redisReady } from './redis.ts';
import { registryReady } from './registry.ts';

const answers = (probe: () => Promise<boolean>) => probe().catch(() => false);

/** The configured services that do not answer within a second or two, as "<name> at <address>". */
export async function unreachableServices(config: Config): Promise<string[]> {
  const brokers = config.kafka.brokers.map((b) => {
    const cut = b.lastIndexOf(':');
    return { host: b.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(b.slice(cut + 1)) };
  });
  const [kafka, redis, registry] = await Promise.all([
    Promise.all(brokers.map((b) => answers(() => isPortOpen(b.port, b.host, 1500)))).then((open) => open.some(Boolean)),
    answers(() => redisReady(config.redis.url)),
    answers(() => registryReady(config.registry.url)),
  ]);
  const down: string[] = [];
  if (!kafka) down.push(`Kafka at ${config.kafka.brokers.join(',')}`);
  if (!redis) down.push(`Redis at ${redactUrl(config.redis.url)}`);
  if (!registry) down.push(`the Schema Registry at ${redactUrl(config.registry.url)}`);
  return down;
}

/** One line saying what does not answer and what to do, or null when everything answers. */
export async function servicesProblem(config: Config): Promise<string | null> {
  const down = await unreachableServices(config);
  if (down.length === 0) return null;
  return `cannot reach ${down.join(', ')}: start the stack with \`npm start\` (or \`npx segpipe stack up\`), or point KAFKA_BROKERS, REDIS_URL and SCHEMA_REGISTRY_URL at services that run`;
}
