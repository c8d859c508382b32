// `segpipe <command>`: roles, the local stack, and the operational commands.
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, MAX_SEED, loadConfig, type Config } from './config.ts';
import { AppContext, resolveAdminToken } from './context.ts';
import { ROLES, runRole, type Role } from './roles/index.ts';
import { startStack, stopLeftovers, type Stack } from './stack/index.ts';
import { StackError } from './stack/process.ts';
import { log } from './log.ts';
import { redactUrl } from './redact.ts';
import { ADHOC_LIMITS } from './warehouse/adhoc.ts';
import fs from 'node:fs';
import path from 'node:path';

const say = (msg: string) => process.stderr.write(`segpipe: ${msg}\n`);

/** Why the admin server cannot listen where it is configured to, or null. */
async function apiPortBusy(cfg: Config): Promise<string | null> {
  if (cfg.api.port === 0) return null;
  const { isPortOpen } = await import('./stack/process.ts');
  const host = cfg.api.host === '0.0.0.0' || cfg.api.host === '::' ? '127.0.0.1' : cfg.api.host;
  if (!(await isPortOpen(cfg.api.port, host, 1000))) return null;
  return portInUse(cfg);
}

const portInUse = (cfg: Config) =>
  `port ${cfg.api.port} on ${cfg.api.host} is already in use (another segpipe, or another server): stop it, or set API_PORT to a free port`;

/** Exits 2 with one line when a service the command needs does not answer at all. */
async function requireServices(cfg: Config): Promise<void> {
  const { servicesProblem } = await import('./stack/preflight.ts');
  const problem = await servicesProblem(cfg);
  if (problem) {
    say(problem);
    process.exit(2);
  }
}

function config(): Config {
  return loadConfig(process.env);
}

/** Runs until SIGINT/SIGTERM, then closes in order; a second signal exits at once. */
function untilSignal(cleanup: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      say(`${sig} again: exiting without waiting`);
      process.exit(130);
    }
    stopping = true;
    say(`${sig}: shutting down (press Ctrl-C again to force)`);
    cleanup()
      .then(() => process.exit(0))
      .catch((err) => {
        say(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function runRoles(role: Role, stack?: Stack): Promise<void> {
  const cfg = config();
  const ctx = new AppContext(cfg);
  untilSignal(async () => {
    await ctx.close();
    await stack?.stop();
  });
  try {
    const info = await runRole(role, ctx);
    for (const i of info) log.info({ role: i.role }, i.detail);
  } catch (err) {
    await ctx.close();
    await stack?.stop();
    throw err;
  }
  if (role === 'all' || role === 'api') {
    const url = `http://${cfg.api.host === '0.0.0.0' ? '127.0.0.1' : cfg.api.host}:${cfg.api.port}`;
    const token = resolveAdminToken(cfg);
    // The token goes to a terminal only: stdout piped to a file or a log collector keeps it out.
    const tokenLine = cfg.api.adminToken
      ? 'the ADMIN_TOKEN you set'
      : process.stdout.isTTY
        ? token
        : `in ${path.join(cfg.localDir, 'admin-token')} (not printed: stdout is not a terminal)`;
    process.stdout.write(
      [
        '',
        `segpipe is running (role ${role}). Ctrl-C stops it${stack ? ' and the services it started' : ''}.`,
        `  dashboard    ${url}/dashboard   (sign in with the admin token)`,
        `  Bull Board   ${url}/admin/queues`,
        `  API          ${url}/api/status   (Authorization: Bearer <admin token>)`,
        `  health       ${url}/health`,
        `  metrics      ${url}/metrics`,
        `  admin token  ${tokenLine}`,
        `  Kafka ${cfg.kafka.brokers.join(',')} · Schema Registry ${redactUrl(cfg.registry.url)} · Redis ${redactUrl(cfg.redis.url)}`,
        '',
      ].join('\n'),
    );
  }
}

async function upStack(cfg: Config, kafkaBrokers?: number): Promise<Stack> {
  const started = Date.now();
  const stack = await startStack(cfg, { onProgress: say, kafkaBrokers });
  say(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${stack.services.map((s) => `${s.name} ${s.state}`).join(', ')}`);
  const kafka = stack.services.find((s) => s.name === 'Kafka')!;
  if (kafka.address.includes(',') && kafka.address !== cfg.kafka.brokers.join(',')) {
    say(`Kafka runs on ${kafka.address}: give the roles KAFKA_BROKERS=${kafka.address} KAFKA_REPLICATION_FACTOR=3`);
  }
  return stack;
}

const program = new Command('segpipe')
  .description('Exactly-once event pipeline for consumer segmentation')
  .showHelpAfterError();

program
  .command('start')
  .description('start the local stack where nothing answers, then every role in this process (what `npm start` runs)')
  .action(async () => {
    const cfg = config();
    // Before anything starts: a busy admin port used to show only after the whole stack was up.
    const busy = await apiPortBusy(cfg);
    if (busy) {
      say(busy);
      process.exit(2);
    }
    const stack = await upStack(cfg);
    await runRoles('all', stack);
  });

for (const role of ROLES) {
  program
    .command(role)
    .description(role === 'all' ? 'run every role in this process' : `run the ${role} role against the configured services`)
    .action(() => runRoles(role));
}

const stackCmd = program.command('stack').description('manage the local Kafka, Schema Registry and Redis');
stackCmd
  .command('up')
  .description('start what is not already running and keep it in the foreground until Ctrl-C')
  .option('--brokers <n>', 'Kafka nodes to start (KRaft, one quorum), on every second port from the first broker port', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new InvalidArgumentError('--brokers takes a whole number from 1 to 9');
    return n;
  })
  .action(async (opts: { brokers?: number }) => {
    const stack = await upStack(config(), opts.brokers);
    // Nothing else holds the event loop open: the services run detached.
    const keepAlive = setInterval(() => undefined, 60_000);
    untilSignal(async () => {
      clearInterval(keepAlive);
      await stack.stop();
    });
  });
stackCmd
  .command('down')
  .description('stop services that an earlier run left behind (from their pid files)')
  .action(async () => {
    const n = await stopLeftovers(config(), say);
    say(n === 0 ? 'nothing was running' : `stopped ${n} service(s)`);
  });

program
  .command('registry-server')
  .description('run the embedded fallback Schema Registry (Confluent REST API subset); the local stack starts it')
  .option('--host <host>', 'address to bind', '127.0.0.1')
  .option('--port <port>', 'port', (v) => positiveInt('--port')(v), 8081)
  .option('--data-dir <dir>', 'where schemas are stored', '.local/schema-registry/data')
  .action(async (opts: { host: string; port: number; dataDir: string }) => {
    const { buildRegistryServer } = await import('./registry-server/server.ts');
    const app = await buildRegistryServer({ dataDir: opts.dataDir });
    await app.listen({ host: opts.host, port: opts.port });
    say(`embedded Schema Registry listening on http://${opts.host}:${opts.port} (data in ${opts.dataDir})`);
    untilSignal(() => app.close());
  });

const movies = program.command('movies').description('the movie catalog pipeline');
movies
  .command('ingest <file>')
  .description('parse a Movies.txt file on the thread pool and produce new or changed items to Kafka (in this process)')
  .action(async (file: string) => {
    const { SingleBar, Presets } = await import('cli-progress');
    const { MovieIngestor } = await import('./movies/ingest.ts');
    const { createParsePool } = await import('./movies/pool.ts');
    const cfg = config();
    await requireServices(cfg);
    const ctx = new AppContext(cfg);
    const pool = createParsePool(cfg.movies.threads, cfg.movies.chunkBytes);
    const ingestor = new MovieIngestor(ctx, pool);
    try {
      await ctx.prepare();
      const bar = new SingleBar(
        { format: 'movies |{bar}| {percentage}% · {mb}/{totalMb} MB · {items} items · {produced} produced · {quarantined} quarantined · {eta}s left', hideCursor: true },
        Presets.shades_classic,
      );
      let started = false;
      // The operator's own file, symlink or not: read it where it really is (ingest never follows a final symlink).
      const result = await ingestor.ingest(fs.realpathSync(file), (p) => {
        const payload = { mb: (p.bytes / 1e6).toFixed(1), totalMb: (p.totalBytes / 1e6).toFixed(1), items: p.items, produced: p.produced, quarantined: p.quarantined };
        if (!started) bar.start(p.totalBytes, 0, payload);
        started = true;
        bar.update(p.bytes, payload);
      });
      bar.stop();
      const secs = result.durationMs / 1000;
      process.stdout.write(
        `${result.items} items in ${secs.toFixed(1)} s (${(result.bytes / 1e6 / secs).toFixed(1)} MB/s): ${result.produced} produced, ${result.unchanged} unchanged, ${result.quarantined} lines quarantined` +
          `${result.quarantineFile ? ` (see ${result.quarantineFile})` : ''}\n`,
      );
    } finally {
      await ingestor.close();
      await pool.destroy();
      await ctx.close();
    }
    process.exit();
  });

program
  .command('verify')
  .description("reconcile each partition on both paths: the warehouse's raw rows, duplicates and dead letters against the loader's position, and the stream's lag; exit 1 on any difference")
  .option('--flush', 'wait until the loader (in the worker that owns the warehouse) has loaded everything Kafka holds now')
  .option('--metrics', 'also recompute every metric from the raw tables (the oracle) and diff final windows and sales')
  .option('--runs', 'also recompute what every completed simulator run put on each partition and compare with Kafka (an event lost before Kafka shows)')
  .option('--json', 'print one JSON document: the reconcile report, and the oracle and runs results when asked for')
  .action(async (opts: { flush?: boolean; metrics?: boolean; runs?: boolean; json?: boolean }) => {
    const { reconcile } = await import('./stream/reconcile.ts');
    const { flushNow, FLUSH_METRICS } = await import('../queues/flush.ts');
    const { warehouseQuery } = await import('../queues/warehouse.ts');
    const cfg = config();
    if (opts.metrics && cfg.warehouse.kind !== 'duckdb') {
      say('verify --metrics: the oracle is written in DuckDB SQL and runs only on WAREHOUSE=duckdb; run verify without --metrics to reconcile offsets');
      process.exit(2);
    }
    await requireServices(cfg);
    const ctx = new AppContext(cfg);
    const out = (line: string) => {
      if (!opts.json) process.stdout.write(`${line}\n`);
    };
    try {
      if (opts.flush || opts.metrics) await flushNow(ctx);
      let oracle: import('./warehouse/queries.ts').QueryResult<'oracleDiff'> | undefined;
      if (opts.metrics) {
        const { lateDeadLetters } = await import('./kafka/dead-letters.ts');
        await flushNow(ctx, { name: FLUSH_METRICS });
        // The whole oracle is one job where the warehouse lives; a big warehouse takes minutes.
        oracle = await warehouseQuery(ctx, 'oracleDiff', { excluded: await lateDeadLetters(ctx), sessionTimeoutMs: cfg.stream.sessionTimeoutMs }, 900_000);
        for (const d of oracle.diffs) out(`metric ${d.metric} ${d.key}: stream ${d.stream} ≠ oracle ${d.oracle}`);
        out(`verify --metrics: ${oracle.finalWindows} final windows and ${oracle.salesItems} sold items compared, ${oracle.diffs.length} difference(s)`);
        if (oracle.diffs.length > 0) process.exitCode = 1;
      }
      let runs: import('./simulator/run-check.ts').RunCheckReport | undefined;
      if (opts.runs) {
        const { checkRuns } = await import('./simulator/run-check.ts');
        runs = await checkRuns(ctx);
        if (!runs.ok) process.exitCode = 1;
        for (const s of runs.skipped) out(`run ${s.userPrefix}: not checked, ${s.reason}`);
        for (const d of runs.differences) {
          out(`run ${d.userPrefix} ${d.topic}:${d.partition}: expected ${d.expected}, in Kafka ${d.found}: ${d.missing} missing, ${d.duplicates} duplicate(s), ${d.unexpected} unexpected, ${d.outOfOrder} out of order`);
        }
        out(`verify --runs: ${runs.runs} run(s), ${runs.rows.reduce((a, r) => a + r.expected, 0)} events recomputed, ${runs.differences.length} partition(s) differ`);
      }
      const report = await reconcile(ctx);
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, ...(oracle ? { oracle } : {}), ...(runs ? { runs } : {}) }, null, 2)}\n`);
      else {
        const rows = report.partitions.filter((p) => p.loaded + p.pending > 0 || p.difference !== 0);
        const cols: Array<[string, number]> = [['loaded', 9], ['warehouse', 9], ['dups', 6], ['dead', 6], ['pending', 8], ['diff', 6], ['stream lag', 10]];
        out(`${'topic'.padEnd(30)} ${'part'.padStart(4)} ${cols.map(([h, w]) => h.padStart(w)).join(' ')}`);
        const line = (topic: string, part: string, cells: Array<number | string>, mismatch: boolean) =>
          out(`${topic.padEnd(30)} ${part.padStart(4)} ${cells.map((c, i) => String(c).padStart(cols[i]![1])).join(' ')}${mismatch ? '  ← MISMATCH' : ''}`);
        // Partitions in order, then the topic's total.
        for (const topic of [...new Set(rows.map((p) => p.topic))]) {
          const parts = rows.filter((p) => p.topic === topic).sort((a, b) => a.partition - b.partition);
          for (const p of parts) line(p.topic, String(p.partition), [p.loaded, p.warehouse, p.duplicates, p.deadLetters, p.pending, p.difference, p.streamLag ?? '-'], p.difference !== 0);
          const sum = (f: (p: (typeof parts)[number]) => number | null | undefined) => parts.reduce((s, p) => s + (f(p) ?? 0), 0);
          const lagged = parts.some((p) => p.streamLag !== undefined && p.streamLag !== null);
          if (parts.length > 1) line(topic, 'all', [sum((p) => p.loaded), sum((p) => p.warehouse), sum((p) => p.duplicates), sum((p) => p.deadLetters), sum((p) => p.pending), sum((p) => p.difference), lagged ? sum((p) => p.streamLag) : '-'], false);
        }
        out(
          report.ok
            ? 'verify: every offset the loader passed is a row, a duplicate or a dead letter'
            : 'verify: MISMATCH — offsets the loader passed that are neither rows, duplicates nor dead letters (rows deleted or added by hand?)',
        );
      }
      if (!report.ok) process.exitCode = 1;
    } finally {
      await ctx.close();
    }
    // A one-shot command: do not wait for idle sockets of closed clients to linger out.
    process.exit();
  });

program
  .command('sql <select>')
  .description('run one read-only SELECT on the warehouse, in the worker that owns it (DuckDB only), and print the rows')
  .option('--json', 'print the rows as a JSON array of objects')
  .option('--limit <n>', `at most this many rows (default ${ADHOC_LIMITS.defaultRows}, at most ${ADHOC_LIMITS.maxRows})`, (v) => boundedInt('--limit', ADHOC_LIMITS.maxRows)(v), ADHOC_LIMITS.defaultRows)
  .option('--timeout <s>', `stop the statement after this many seconds (default ${ADHOC_LIMITS.defaultTimeoutMs / 1000}, at most ${ADHOC_LIMITS.maxTimeoutMs / 1000})`, (v) => boundedInt('--timeout', ADHOC_LIMITS.maxTimeoutMs / 1000)(v), ADHOC_LIMITS.defaultTimeoutMs / 1000)
  .action(async (select: string, opts: { json?: boolean; limit: number; timeout: number }) => {
    const { warehouseQuery } = await import('../queues/warehouse.ts');
    const { formatTable, rowObjects } = await import('./warehouse/adhoc.ts');
    const cfg = config();
    if (cfg.warehouse.kind !== 'duckdb') {
      say(`sql reads the DuckDB warehouse only (WAREHOUSE=${cfg.warehouse.kind}); query Snowflake with its own tools and a read-only role`);
      process.exit(2);
    }
    await requireServices(cfg);
    const ctx = new AppContext(cfg);
    try {
      const { QUEUES } = await import('../queues/names.ts');
      // No worker serves the warehouse queue: say so now rather than after the timeout.
      const workers = await ctx.queues[QUEUES.warehouse].getWorkersCount().catch(() => undefined);
      if (workers === 0) {
        say('no segpipe worker serves the warehouse queue on this Redis (only the worker that owns the warehouse runs queries): start one with `npm start` or `npx segpipe worker`');
        process.exit(2);
      }
      const timeoutMs = opts.timeout * 1000;
      // The statement's own timeout runs in the worker; this one covers a queue with no worker.
      const result = await warehouseQuery(ctx, 'sql', { sql: select, limit: opts.limit, timeoutMs }, timeoutMs + 15_000).catch((err: Error) => {
        // The statement's own failure (DuckDB's message, or why it was refused): no stack to show.
        say(err.message.split('\n')[0]!);
        process.exit(1);
      });
      process.stdout.write(`${opts.json ? JSON.stringify(rowObjects(result), null, 2) : formatTable(result)}\n`);
      if (result.truncated) say(`showing the first ${result.rows.length} rows only (--limit ${opts.limit}, at most ${ADHOC_LIMITS.maxRows}; results are also capped at ${ADHOC_LIMITS.maxResultBytes / 1024 / 1024} MB)`);
    } finally {
      await ctx.close();
    }
    process.exit();
  });

program
  .command('simulate')
  .description('produce simulated user journeys to Kafka (in this process), with a progress bar and the achieved rate')
  .requiredOption('--events <n>', 'events to produce', (v) => positiveInt('--events')(v))
  .option('--seed <n>', 'random seed (same seed, start and parameters = same events)', (v) => seedArg('--seed')(v))
  .option('--users <n>', 'users arriving over the simulated day (default events / 25)', (v) => positiveInt('--users')(v))
  .option('--speed <x>', 'simulated seconds per real second (default: as fast as possible)', (v) => positiveNumber('--speed')(v))
  .option('--rate <n>', 'at most this many events per second', (v) => positiveNumber('--rate')(v))
  .option('--user-prefix <p>', 'user ids are <p>-<n> (default: c<n>, a new prefix per run, so runs never share users or event ids)', (v) => {
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(v)) throw new InvalidArgumentError('--user-prefix takes 1 to 40 letters, digits, _ . or -');
    return v;
  })
  .option('--start <iso>', 'simulated start time (default: now, or where the last run ended if that is later)', (v) => {
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new InvalidArgumentError(`--start must be an ISO 8601 time, got "${v}"`);
    return t;
  })
  .action(async (opts: { events: number; seed?: number; users?: number; speed?: number; rate?: number; start?: number; userPrefix?: string }) => {
    const { SingleBar, Presets } = await import('cli-progress');
    const { runSimulation, nextCliPrefix } = await import('./simulator/run.ts');
    const { runParamsProblems, startProblem } = await import('../queues/simulator.ts');
    const cfg = config();
    const refused = opts.start === undefined ? null : startProblem(opts.start, cfg.simulator);
    if (refused) {
      say(`--start: ${refused}`);
      process.exit(2);
    }
    // The bounds REST and the processor apply (events, a pace that fits SIMULATOR_MAX_RUN_S),
    // before any service is reached.
    const { start: _, ...bounded } = opts;
    const problems = runParamsProblems({ ...bounded, seed: opts.seed ?? cfg.simulator.seed }, cfg.simulator);
    if (problems.length > 0) {
      say(`refused: ${problems.join('; ')}`);
      process.exit(2);
    }
    await requireServices(cfg);
    const ctx = new AppContext(cfg);
    try {
      await ctx.prepare();
      const bar = new SingleBar({ format: 'simulate |{bar}| {value}/{total} events · {rate} events/s · {eta}s left', hideCursor: true }, Presets.shades_classic);
      const t0 = performance.now();
      bar.start(opts.events, 0, { rate: 0 });
      const userPrefix = opts.userPrefix ?? (await nextCliPrefix(ctx));
      const result = await runSimulation(ctx, { ...opts, seed: opts.seed ?? cfg.simulator.seed, userPrefix }, (sent) =>
        bar.update(sent, { rate: Math.round(sent / ((performance.now() - t0) / 1000)) }),
      );
      bar.stop();
      process.stdout.write(
        `${result.events} events in ${(result.durationMs / 1000).toFixed(1)} s: ${result.eventsPerSecond} events/s; ` +
          `event time ${result.firstEventAt} → ${result.lastEventAt}; catalog ${result.catalogItems} items from ${result.catalogSource}\n`,
      );
      if (result.stopped === 'max_duration') {
        say(`stopped after ${result.events} of ${opts.events} events at the longest a run may last (SIMULATOR_MAX_RUN_S=${cfg.simulator.maxRunSeconds} s); raise it or ask for fewer events`);
        process.exitCode = 1;
      }
    } finally {
      await ctx.close();
    }
    process.exit();
  });

program
  .command('gen-movies')
  .description('write a realistic Movies.txt of any size (deterministic for a seed)')
  .requiredOption('--items <n>', 'number of records', (v) => positiveInt('--items')(v))
  .requiredOption('--out <file>', 'output file')
  .option('--seed <n>', 'random seed', (v) => seedArg('--seed')(v), 42)
  // The sample Movies.txt holds ITEM 1..1300: a generated file numbered from 1 would give two
  // products one id, and their sales one total.
  .option('--first-id <n>', 'id of the first record (default 1000001, clear of the sample file\'s 1..1300)', (v) => positiveInt('--first-id')(v), 1_000_001)
  .option('--edge-rate <r>', 'share of records with an edge case (0..1)', (v) => {
    const r = Number(v);
    if (!(r >= 0 && r <= 1)) throw new InvalidArgumentError(`--edge-rate must be between 0 and 1, got "${v}"`);
    return r;
  }, 0.05)
  .action(async (opts: { items: number; out: string; seed: number; firstId: number; edgeRate: number }) => {
    const { SingleBar, Presets } = await import('cli-progress');
    const { generateMovies } = await import('./movies/generate.ts');
    const bar = new SingleBar({ format: 'gen-movies |{bar}| {value}/{total} items · {mb} MB', hideCursor: true }, Presets.shades_classic);
    bar.start(opts.items, 0, { mb: '0' });
    const r = await generateMovies({ ...opts, onProgress: (n, bytes) => bar.update(n, { mb: (bytes / 1e6).toFixed(0) }) });
    bar.stop();
    process.stdout.write(`wrote ${r.items} items, ${(r.bytes / 1e6).toFixed(1)} MB to ${opts.out}\n`);
  });

export const positiveNumber = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got "${value}"`);
  return n;
};

export const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
  return n;
};

export const boundedInt = (name: string, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}, got "${value}"`);
  return n;
};

export const seedArg = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_SEED) throw new InvalidArgumentError(`${name} must be an integer from 0 to ${MAX_SEED}, got "${value}"`);
  return n;
};

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof StackError) say(err.message);
  // Taken between the check at start and the listen (or by a role command, which has no check).
  else if ((err as NodeJS.ErrnoException)?.code === 'EADDRINUSE') say(portInUse(config()));
  // The stack trace only when asked for: an operator needs the message and what to do.
  else if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') say(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  else say(`failed: ${err instanceof Error ? err.message : String(err)} (LOG_LEVEL=debug shows where)`);
  process.exit(1);
});
