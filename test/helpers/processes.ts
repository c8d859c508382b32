// segpipe role processes for the kill tests: real child processes, killed with SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TEST_ENV } from './env.ts';

export class RoleProcesses {
  private readonly children = new Set<ChildProcess>();

  /** `env` is the test's config on top of the test services; each child logs to `<dir>/<name>.log`. */
  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  start(role: 'stream' | 'worker', name: string, extra: Record<string, string> = {}): ChildProcess {
    const log = fs.openSync(path.join(this.dir, `${name}.log`), 'a');
    const child = spawn(process.execPath, ['bin/segpipe.mjs', role], { env: { ...process.env, ...TEST_ENV, ...this.env, ...extra, LOG_LEVEL: 'warn' }, stdio: ['ignore', log, log] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async kill9(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.kill9(c)));
  }
}
