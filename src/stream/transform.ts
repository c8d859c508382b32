// Decoded event → warehouse row: timestamps to UTC, strings trimmed, required fields checked,
// nested values to JSON. Pure: a bad event yields a reason for the dead-letter topic.
import type { EventName } from '../config.ts';
import { isoUtc } from '../events/iso-time.ts';
import type { TableSpec } from '../warehouse/tables.ts';
import type { Cell, Row } from '../warehouse/warehouse.ts';

export type InvalidReason = 'missing_required_field' | 'invalid_timestamp' | 'wrong_event_name';

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
  ingestedAt: string;
}

/** Parses ISO 8601 (any offset) to epoch ms; NaN when not a full date-time. */
export function parseEventTime(v: unknown): number {
  if (typeof v !== 'string') return Number.NaN;
  const canonical = canonicalTime(v);
  if (!Number.isNaN(canonical)) return canonical;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v.trim())) return Number.NaN;
  return Date.parse(v.trim());
}

const digits = (s: string, from: number, n: number): number => {
  let x = 0;
  for (let i = from; i < from + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
};

/**
 * `YYYY-MM-DDTHH:MM:SS.sssZ`, the form every producer here writes and Date#toISOString
 * returns, read without Date.parse: that form arrives once per event. NaN for anything else
 * (which then takes the general path), including days past the 28th, left to Date.parse.
 */
export function canonicalTime(v: string): number {
  if (v.length !== 24 || v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || v[23] !== 'Z') return Number.NaN;
  const y = digits(v, 0, 4);
  const mo = digits(v, 5, 2);
  const d = digits(v, 8, 2);
  const h = digits(v, 11, 2);
  const mi = digits(v, 14, 2);
  const s = digits(v, 17, 2);
  const ms = digits(v, 20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0) return Number.NaN;
  // Date.UTC reads years below 100 as 19xx: those take the general path.
  return y < 100 ? Number.NaN : Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

/** `eventTime`: the record's timestamp as parsed by the caller, when it already did. */
export function toRow(event: EventName, table: TableSpec, record: Record<string, unknown>, lineage: Lineage, eventTime = parseEventTime(record.timestamp)): Row {
  if (record.event_name !== event) throw new InvalidEventError('wrong_event_name', `event_name ${JSON.stringify(record.event_name)} on the ${event} topic`);
  const row: Row = [];
  for (const c of table.columns) {
    let v: unknown;
    switch (c.name) {
      case 'event_time': {
        if (Number.isNaN(eventTime)) throw new InvalidEventError('invalid_timestamp', `timestamp ${JSON.stringify(record.timestamp)} is not ISO 8601`);
        v = isoUtc(eventTime);
        break;
      }
      case 'kafka_topic':
        v = lineage.topic;
        break;
      case 'kafka_partition':
        v = lineage.partition;
        break;
      case 'kafka_offset':
        v = Number(lineage.offset);
        break;
      case 'ingested_at':
        v = lineage.ingestedAt;
        break;
      default:
        v = record[c.name];
    }
    if (typeof v === 'string') v = v.trim();
    if (v === undefined || v === null || (v === '' && !c.nullable)) {
      if (!c.nullable) throw new InvalidEventError('missing_required_field', `${c.name} is missing or empty`);
      row.push(null);
      continue;
    }
    row.push(c.type === 'JSON' ? JSON.stringify(v) : (v as Cell));
  }
  return row;
}
