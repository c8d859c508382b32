// A local Snowflake-protocol emulator for tests: fakesnow's HTTP server (PyPI), which answers
// the Snowflake REST API (login-request, query-request) and runs the SQL on DuckDB through
// sqlglot. It is installed once into a Python venv in the cache dir, like the Kafka jars.
// fakesnow answers result sets in Arrow (rowsetBase64), which snowflake-sdk does not read;
// test/helpers/snowflake-json-proxy.ts turns those into JSON rowsets in front of it.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from './paths.ts';
import { spawnService, waitUntilReady, type RunningProcess } from './process.ts';

export const FAKESNOW_VERSION = '0.12.1';
/** fakesnow 0.12 imports snowflake.connector internals that changed in 4.x. */
const REQUIREMENTS = [`fakesnow[server]==${FAKESNOW_VERSION}`, 'snowflake-connector-python<4'];

/** Path of the `fakesnow` executable, creating its venv under the cache dir on first use. */
export async function resolveFakesnow(onProgress: (msg: string) => void = () => undefined): Promise<string> {
  const venv = path.join(cacheDir(), `fakesnow-${FAKESNOW_VERSION}`);
  const bin = path.join(venv, 'bin', 'fakesnow');
  const marker = path.join(venv, '.complete');
  if (fs.existsSync(marker) && fs.existsSync(bin)) return bin;
  onProgress(`installing fakesnow ${FAKESNOW_VERSION} from PyPI into ${venv} (first run only)`);
  const run = promisify(execFile);
  fs.rmSync(venv, { recursive: true, force: true });
  try {
    await run('python3', ['-m', 'venv', venv]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    fs.rmSync(venv, { recursive: true, force: true });
    throw new Error(
      `Snowflake emulator: creating a Python venv failed (${e.code === 'ENOENT' ? 'python3 not found' : (e.stderr ?? e.message).trim()}). ` +
        'Install Python 3.11+ with venv (Debian: apt-get install -y python3 python3-venv).',
    );
  }
  try {
    await run(path.join(venv, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '-q', ...REQUIREMENTS], { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    fs.rmSync(venv, { recursive: true, force: true });
    throw new Error(`Snowflake emulator: pip install ${REQUIREMENTS.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
  fs.writeFileSync(marker, FAKESNOW_VERSION);
  return bin;
}

export interface SnowflakeEmulatorOptions {
  host: string;
  port: number;
  /** Log and pid file go here; the databases live in memory (every start is empty). */
  dir: string;
}

export async function startSnowflakeEmulator(opts: SnowflakeEmulatorOptions, onProgress: (msg: string) => void = () => undefined): Promise<RunningProcess> {
  const bin = await resolveFakesnow(onProgress);
  fs.mkdirSync(opts.dir, { recursive: true });
  onProgress(`starting fakesnow ${FAKESNOW_VERSION} on ${opts.host}:${opts.port}`);
  const proc = spawnService({
    service: 'Snowflake emulator',
    port: opts.port,
    command: bin,
    args: ['-s', '--host', opts.host, '-p', String(opts.port)],
    logFile: path.join(opts.dir, 'fakesnow.log'),
    pidFile: path.join(opts.dir, 'fakesnow.pid'),
    env: { PYTHONUNBUFFERED: '1' },
  });
  await waitUntilReady(proc, () => snowflakeEmulatorReady(`http://${opts.host}:${opts.port}`), 60_000);
  return proc;
}

/** True when a Snowflake-protocol server answers: a query without a session is refused with 401. */
export async function snowflakeEmulatorReady(url: string): Promise<boolean> {
  const res = await fetch(`${url}/queries/v1/query-request`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
  return res.status === 401;
}
