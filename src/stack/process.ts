// Child-process plumbing shared by the local services: spawn with a log file and a pid file,
// wait for readiness with a deadline, stop by process group.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class StackError extends Error {
  constructor(
    readonly service: string,
    readonly port: number,
    readonly logFile: string | undefined,
    message: string,
  ) {
    super(`${service} (port ${port}): ${message}${logFile ? `\n  Read the log: ${logFile}` : ''}`);
    this.name = 'StackError';
  }
}

export interface SpawnSpec {
  service: string;
  port: number;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
}

export interface RunningProcess {
  service: string;
  port: number;
  pid: number;
  logFile: string;
  pidFile: string;
  /** Resolves with the exit code (or signal) once the process has gone. */
  exited: Promise<string>;
}

export function spawnService(spec: SpawnSpec): RunningProcess {
  fs.mkdirSync(path.dirname(spec.logFile), { recursive: true });
  fs.mkdirSync(path.dirname(spec.pidFile), { recursive: true });
  const out = fs.openSync(spec.logFile, 'a');
  // Own process group: Ctrl-C reaches us, and we stop the services in order ourselves.
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', out, out],
    detached: true,
  });
  fs.closeSync(out);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `exit code ${code}`));
    child.once('error', (err) => resolve(`failed to start: ${err.message}`));
  });
  if (child.pid === undefined) {
    throw new StackError(spec.service, spec.port, spec.logFile, `could not start ${spec.command}`);
  }
  fs.writeFileSync(spec.pidFile, `${child.pid}\n`);
  child.unref();
  return { service: spec.service, port: spec.port, pid: child.pid, logFile: spec.logFile, pidFile: spec.pidFile, exited };
}

export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls `check` until it returns true; fails early if the process exits, late at the deadline.
 * On failure the process is stopped, so a failed start leaves nothing running.
 */
export async function waitUntilReady(
  proc: RunningProcess,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  try {
    await pollReady(proc, check, timeoutMs);
  } catch (err) {
    await stopPid(proc.pid, proc.pidFile, 5000);
    throw err;
  }
}

async function pollReady(proc: RunningProcess, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitReason: string | undefined;
  void proc.exited.then((r) => (exitReason = r));
  while (Date.now() < deadline) {
    if (exitReason) {
      throw new StackError(proc.service, proc.port, proc.logFile, `exited during start-up (${exitReason})`);
    }
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new StackError(proc.service, proc.port, proc.logFile, `not ready after ${Math.round(timeoutMs / 1000)} s`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the process group, SIGKILL after the grace period; removes the pid file. */
export async function stopPid(pid: number, pidFile: string | undefined, graceMs = 20_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) {
    signal('SIGKILL');
    while (alive(pid)) await sleep(50);
  }
  if (pidFile) fs.rmSync(pidFile, { force: true });
}

/** Pid recorded by an earlier start whose process still runs (e.g. after the parent was killed). */
export function readLivePid(pidFile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
