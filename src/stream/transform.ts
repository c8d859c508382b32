// Decoded event → warehouse row: timestamps to UTC, strings trimmed, required fields checked,
// nested values to JSON. Pure: a bad event yields a reason for the dead-letter topic.
import type { EventName } from '../config.ts';
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
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v.trim())) return Number.NaN;
  return Date.parse(v.trim());
}

export function toRow(event: EventName, table: TableSpec, record: Record<string, unknown>, lineage: Lineage): Row {
  if (record.event_name !== event) throw new InvalidEventError('wrong_event_name', `event_name ${JSON.stringify(record.event_name)} on the ${event} topic`);
  const row: Row = [];
  for (const c of table.columns) {
    let v: unknown;
    switch (c.name) {
      case 'event_time': {
        const ms = parseEventTime(record.timestamp);
        if (Number.isNaN(ms)) throw new InvalidEventError('invalid_timestamp', `timestamp ${JSON.stringify(record.timestamp)} is not ISO 8601`);
        v = new Date(ms).toISOString();
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
