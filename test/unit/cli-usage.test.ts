import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Option parsing fails before any service is reached, so these need no stack.
const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/segpipe.mjs', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('CLI usage errors', () => {
  it('names the parameter and exits non-zero', () => {
    for (const [args, name] of [
      [['simulate', '--events', '0'], '--events'],
      [['simulate', '--events', '10', '--seed', '-1'], '--seed'],
      [['simulate', '--events', '10', '--seed', '2147483648'], '--seed'],
    ] as const) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toContain(name);
    }
  });
});
