// HTTP proxy between snowflake-sdk and the fakesnow emulator. fakesnow answers result sets
// the way Snowflake's Python connector reads them, in Arrow IPC (`queryResultFormat: "arrow"`,
// `rowsetBase64`); the Node driver only reads JSON rowsets (`rowset`: rows of strings) and,
// finding none, fails the statement and then asks GET /queries/<id>/result, which fakesnow
// does not serve (404). The proxy decodes the Arrow answer and writes the JSON form Snowflake
// itself sends to the Node driver (values as text: FIXED as a decimal, TIMESTAMP_NTZ as
// "<epoch seconds>.<9 digits>", BOOLEAN as "1"/"0", VARIANT as JSON text). Everything else
// passes through byte for byte.
//
// It also makes real network faults on demand: answers lost after the emulator ran the
// statement (the client's connection is cut), or the port closed for a while.
import http from 'node:http';
import type net from 'node:net';
import { gunzipSync } from 'node:zlib';
import { tableFromIPC, type Table } from 'apache-arrow';

interface RowType {
  name: string;
  type: string;
  scale: number | null;
}

const pad = (n: bigint, width: number) => n.toString().padStart(width, '0');

/** An integer count of 10^-scale units as decimal text: (-1234, 2) -> "-12.34". */
function decimalText(units: bigint, scale: number): string {
  if (scale <= 0) return units.toString();
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const p = 10n ** BigInt(scale);
  return `${neg ? '-' : ''}${abs / p}.${pad(abs % p, scale)}`;
}

/** Arrow decimal128 value (four little-endian 32-bit words, two's complement) as a bigint. */
function decimalUnits(words: Uint32Array): bigint {
  let v = 0n;
  for (let i = words.length - 1; i >= 0; i--) v = (v << 32n) | BigInt(words[i]!);
  const bits = BigInt(words.length * 32);
  return v >= 1n << (bits - 1n) ? v - (1n << bits) : v;
}

function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (v instanceof Uint32Array) return decimalUnits(v);
  throw new Error(`not an integer: ${String(v)}`);
}

/** One Arrow cell as Snowflake's JSON result text for the column's Snowflake type. */
function cellText(v: unknown, col: RowType): string | null {
  if (v === null || v === undefined) return null;
  switch (col.type.toLowerCase()) {
    case 'fixed':
      // Arrow integers arrive unscaled; decimals as their unscaled 128-bit integer.
      return typeof v === 'number' && !Number.isInteger(v) ? String(v) : decimalText(toBigInt(v), col.scale ?? 0);
    case 'real': {
      const n = Number(v);
      return Number.isNaN(n) ? 'NaN' : n === Infinity ? 'inf' : n === -Infinity ? '-inf' : String(n);
    }
    case 'boolean':
      return v ? '1' : '0';
    case 'date':
      // Days since the epoch; apache-arrow gives Date32 as epoch milliseconds.
      return String(Math.floor(Number(v instanceof Date ? v.getTime() : v) / 86_400_000));
    case 'time':
      // fakesnow sends TIME as int64 nanoseconds since midnight.
      return decimalText(toBigInt(v), 9);
    case 'timestamp_ntz':
    case 'timestamp_ltz': {
      // Snowflake's Arrow struct {epoch seconds, fraction nanoseconds}; fakesnow marks a NULL
      // in the struct's fields, not on the struct.
      const s = v as { epoch: unknown; fraction: unknown };
      if (s.epoch === null) return null;
      return decimalText(toBigInt(s.epoch) * 1_000_000_000n + toBigInt(s.fraction), 9);
    }
    case 'timestamp_tz': {
      // Result version 1: "<epoch seconds>.<fraction> <offset minutes + 1440>".
      const s = v as { epoch: unknown; fraction: unknown; timezone: unknown };
      if (s.epoch === null) return null;
      return `${decimalText(toBigInt(s.epoch) * 1_000_000_000n + toBigInt(s.fraction), 9)} ${toBigInt(s.timezone)}`;
    }
    case 'binary':
      return Buffer.from(v as Uint8Array).toString('hex').toUpperCase();
    default:
      // text, variant, object, array: text already (VARIANT as its JSON).
      return typeof v === 'string' ? v : String(v);
  }
}

/** Rows of an Arrow IPC stream in Snowflake's JSON rowset form. */
export function arrowToJsonRowset(base64: string, rowtype: RowType[]): (string | null)[][] {
  if (!base64) return [];
  const table: Table = tableFromIPC(Buffer.from(base64, 'base64'));
  const cols = rowtype.map((_, i) => table.getChildAt(i));
  const rows: (string | null)[][] = [];
  for (let r = 0; r < table.numRows; r++) rows.push(rowtype.map((c, i) => cellText(cols[i]!.get(r), c)));
  return rows;
}

/** Rewrites a query-request answer that carries Arrow into the JSON form; others unchanged. */
export function rewriteQueryAnswer(body: Buffer): Buffer {
  let parsed: { data?: { queryResultFormat?: string; rowsetBase64?: string; rowset?: unknown; rowtype?: RowType[]; returned?: number; version?: number } };
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  const d = parsed.data;
  if (!d || (d.queryResultFormat !== 'arrow' && d.returned !== undefined) || !(d.queryResultFormat === 'arrow' || Array.isArray(d.rowset))) return body;
  if (d.queryResultFormat === 'arrow') {
    d.rowset = arrowToJsonRowset(d.rowsetBase64 ?? '', d.rowtype ?? []);
    d.queryResultFormat = 'json';
    delete d.rowsetBase64;
  }
  // Snowflake always says how many rows the answer holds; fakesnow leaves it out of its JSON
  // answers (DML counts), and the Node driver then never finishes reading the result.
  d.returned = (d.rowset as unknown[]).length;
  // Likewise the result version, which says how TIMESTAMP_TZ values are written.
  d.version ??= 1;
  return Buffer.from(JSON.stringify(parsed));
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

export interface QueryRequestInfo {
  sqlText: string;
  /** Rows in an array bind, 0 without one. */
  bindRows: number;
}

export class SnowflakeJsonProxy {
  /** Every query request seen, in order (retries included). */
  readonly queries: QueryRequestInfo[] = [];
  /** Answers dropped by loseAnswers(). */
  lost = 0;
  private server: http.Server;
  private readonly sockets = new Set<net.Socket>();
  private loseRule: { n: number; match: (q: QueryRequestInfo) => boolean } | undefined;
  private listenPort = 0;

  constructor(private readonly upstream: URL) {
    this.server = this.createServer();
  }

  get url(): string {
    return `http://127.0.0.1:${this.listenPort}`;
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    return server;
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.listenPort = (this.server.address() as net.AddressInfo).port;
  }

  /** The emulator runs the next `n` matching query requests, but the client gets no answer: its connection is cut. */
  loseAnswers(n: number, match: (q: QueryRequestInfo) => boolean): void {
    this.loseRule = { n, match };
  }

  /** Closes the port and cuts every open connection for `ms`, then listens again on the same port. */
  async outage(ms: number): Promise<void> {
    await this.stop();
    await new Promise((r) => setTimeout(r, ms));
    this.server = this.createServer();
    await this.listen(this.listenPort);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const body = await readAll(req);
      const isQuery = req.url?.startsWith('/queries/v1/query-request') ?? false;
      let info: QueryRequestInfo | undefined;
      if (isQuery) {
        const json = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8')) as {
          sqlText: string;
          bindings?: Record<string, { value: unknown }>;
        };
        const first = json.bindings?.['1']?.value;
        info = { sqlText: json.sqlText, bindRows: Array.isArray(first) ? first.length : 0 };
        this.queries.push(info);
      }
      const headers = { ...req.headers, host: this.upstream.host };
      const upstreamRes = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const up = http.request(new URL(req.url ?? '/', this.upstream), { method: req.method, headers }, resolve);
        up.once('error', reject);
        up.end(body);
      });
      let answer = await readAll(upstreamRes);
      if (info && this.loseRule && this.loseRule.n > 0 && this.loseRule.match(info)) {
        this.loseRule.n--;
        this.lost++;
        req.socket.destroy();
        return;
      }
      const outHeaders = { ...upstreamRes.headers };
      if (isQuery && upstreamRes.statusCode === 200 && !upstreamRes.headers['content-encoding']) {
        answer = rewriteQueryAnswer(answer);
        outHeaders['content-length'] = String(answer.length);
      }
      res.writeHead(upstreamRes.statusCode ?? 502, outHeaders);
      res.end(answer);
    } catch (err) {
      // A bug here would otherwise only show as the driver retrying a 502 for minutes.
      process.stderr.write(`snowflake proxy: ${req.method} ${req.url}: ${(err as Error).stack}\n`);
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy: ${(err as Error).message}`);
    }
  }
}
