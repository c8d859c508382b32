// Decoded event → warehouse row: timestamps to UTC, strings trimmed, required fields and the
// schema's value rules checked, nested values to JSON. Pure: a bad event yields a reason for the
// dead-letter topic.
import type { EventName } from '../config.ts';
import type { Column, TableSpec, ValueRule } from '../warehouse/tables.ts';
import type { Cell, Row } from '../warehouse/warehouse.ts';
import { digitsAt } from '../digits.ts';

export type InvalidReason = 'missing_required_field' | 'invalid_timestamp' | 'wrong_event_name' | 'invalid_value' | 'future_timestamp';

export class InvalidEventError extends Error {
  constructor(
    readonly reason: InvalidReason,
    detail: string,
  ) {
    super(detail);
    this.name = 'InvalidEventError';
  }
}

export interface Lineage {
  topic: string;
  partition: number;
  offset: string;
  /** Epoch ms. */
  ingestedAt: number;
}

/** Parses ISO 8601 (any offset) to epoch ms; NaN when not a full date-time. */
export function parseEventTime(v: unknown): number {
  if (typeof v !== 'string') return Number.NaN;
  const canonical = canonicalTime(v);
  if (!Number.isNaN(canonical)) return canonical;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v.trim())) return Number.NaN;
  return Date.parse(v.trim());
}

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ`, the form every producer here writes and Date#toISOString
 * returns, read without Date.parse: that form arrives once per event. NaN for anything else
 * (which then takes the general path), including days past the 28th, left to Date.parse.
 */
export function canonicalTime(v: string): number {
  if (v.length !== 24 || v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || v[23] !== 'Z') return Number.NaN;
  const y = digitsAt(v, 0, 4);
  const mo = digitsAt(v, 5, 2);
  const d = digitsAt(v, 8, 2);
  const h = digitsAt(v, 11, 2);
  const mi = digitsAt(v, 14, 2);
  const s = digitsAt(v, 17, 2);
  const ms = digitsAt(v, 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0) return Number.NaN;
  // Date.UTC reads years below 100 as 19xx: those take the general path.
  return y < 100 ? Number.NaN : Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

/**
 * Event-time sanity (DESIGN.md): an event time more than `skewMs` ahead of both its Kafka record
 * time (the producer's clock when it sent it) and the newest event time its topic-partition had
 * before it (`mark`, -1 when none) comes from a bad clock, and would finalise every window behind
 * it. Both bounds, not either: a fast-forward simulation or a backfill runs ahead of the wall
 * clock but close behind its own previous events; a replay of old data is far behind both. A pure
 * function of the message and its partition's history, so the raw loader (which dead-letters the
 * event) and the stream (which leaves it out) decide alike, also when they read it again.
 */
export function futureTimestampError(t: number, recordTime: number, mark: number, skewMs: number): InvalidEventError | null {
  const sent = Number.isFinite(recordTime) && recordTime > 0 ? recordTime : -1;
  const newest = Math.max(sent, mark);
  if (newest < 0 || !(t > newest + skewMs)) return null;
  const ahead = sent >= mark ? `its Kafka record time ${new Date(sent).toISOString()}` : `its partition's newest event time ${new Date(mark).toISOString()}`;
  return new InvalidEventError('future_timestamp', `event time ${new Date(t).toISOString()} is more than MAX_EVENT_TIME_SKEW_MS (${skewMs} ms) ahead of ${ahead}: a bad clock; it would finalise every window before it`);
}

type CellOf = (record: Record<string, unknown>, lineage: Lineage, eventTime: number) => Cell;

const shown = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}… (${String(v).length} characters)` : text;
};

/** What breaks a column's rule, or null when its value keeps it. */
function ruleCheck(c: Column): ((v: unknown) => string | null) | null {
  const rule: ValueRule | undefined = c.rule;
  if (!rule) return null;
  const pattern = rule.pattern === undefined ? null : new RegExp(rule.pattern, 'u');
  const allowed = rule.enum ? new Set(rule.enum) : null;
  return (v) => {
    if (typeof v === 'number') {
      if (rule.min !== undefined && !(v >= rule.min)) return `is below its minimum ${rule.min}`;
      if (rule.max !== undefined && !(v <= rule.max)) return `is above its maximum ${rule.max}`;
    } else if (typeof v === 'string') {
      if (rule.maxLength !== undefined && v.length > rule.maxLength) return `is longer than ${rule.maxLength} characters`;
      if (pattern && !pattern.test(v)) return `does not match ${rule.pattern}`;
      if (allowed && !allowed.has(v)) return `is not one of ${rule.enum!.join(', ')}`;
    }
    return null;
  };
}
const builders = new WeakMap<TableSpec, CellOf[]>();

/** Per column, how its cell is made: decided once per table, not per row and column. */
function cellsOf(table: TableSpec): CellOf[] {
  let cells = builders.get(table);
  if (cells) return cells;
  cells = table.columns.map((c): CellOf => {
    switch (c.name) {
      case 'event_time':
        return (record, _l, t) => {
          if (Number.isNaN(t)) throw new InvalidEventError('invalid_timestamp', `timestamp ${JSON.stringify(record.timestamp)} is not ISO 8601`);
          return t;
        };
      case 'kafka_topic':
        return (_r, l) => l.topic;
      case 'kafka_partition':
        return (_r, l) => l.partition;
      case 'kafka_offset':
        return (_r, l) => Number(l.offset);
      case 'ingested_at':
        return (_r, l) => l.ingestedAt;
    }
    const { name, nullable } = c;
    const json = c.type === 'JSON';
    const broken = ruleCheck(c);
    return (record) => {
      let v = record[name];
      if (typeof v === 'string') v = v.trim();
      if (v === undefined || v === null || (v === '' && !nullable)) {
        if (!nullable) throw new InvalidEventError('missing_required_field', `${name} is missing or empty`);
        return null;
      }
      const why = broken?.(v);
      if (why) throw new InvalidEventError('invalid_value', `${name} ${shown(v)} ${why} (its rule in the schema)`);
      return json ? JSON.stringify(v) : (v as Cell);
    };
  });
  builders.set(table, cells);
  return cells;
}

/**
 * The record as a row of `table`, TIMESTAMP cells as epoch ms. `eventTime`: the record's
 * timestamp as parsed by the caller, when it already did.
 */
export function toRow(event: EventName, table: TableSpec, record: Record<string, unknown>, lineage: Lineage, eventTime = parseEventTime(record.timestamp)): Row {
  if (record.event_name !== event) throw new InvalidEventError('wrong_event_name', `event_name ${JSON.stringify(record.event_name)} on the ${event} topic`);
  const cells = cellsOf(table);
  const row: Row = new Array(cells.length);
  for (let i = 0; i < cells.length; i++) row[i] = cells[i]!(record, lineage, eventTime);
  return row;
}
