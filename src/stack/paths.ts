import os from 'node:os';
import path from 'node:path';

/** Downloaded artifacts (Kafka jars, registry build): outside git, shared by clones. */
export const cacheDir = (): string =>
  path.resolve(process.env.SEGPIPE_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'segpipe'));

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0']);
export const isLocalHost = (host: string): boolean => LOCAL_HOSTS.has(host.toLowerCase());
