// Warehouse tables derived from the Avro schemas: one raw table per event type, its columns
// the schema's fields (plus where each row came from in Kafka), unique by event_id.
import { EVENT_NAMES, type EventName } from '../config.ts';
import { readSchemaFiles } from '../registry/serde.ts';

export type ColumnType = 'VARCHAR' | 'INTEGER' | 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP' | 'JSON';

/**
 * A field's value rule, from its `rule` property in the .avsc (the contract): numbers within
 * [min, max], strings at most maxLength characters and matching pattern / one of enum. An event
 * that breaks one is a dead letter `invalid_value`.
 */
export interface ValueRule {
  min?: number;
  max?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
}

/** Every string field of a user event is at most this long unless its rule says otherwise. */
export const DEFAULT_MAX_LENGTH = 1024;

export interface Column {
  name: string;
  type: ColumnType;
  nullable: boolean;
  rule?: ValueRule;
}

export interface TableSpec {
  name: string;
  key: string[];
  columns: Column[];
  /** Among rows with one key in a merge, the one with the highest value here wins. */
  version?: string;
  /**
   * Rows are only ever appended (loadRaw), and the raw loader keeps `key` unique within the
   * dedup horizon (recent-ids.ts) instead of an index: an index costs more per row than the rest
   * of the load. DuckDB creates such a table without a primary key.
   */
  appendOnly?: boolean;
}

type AvroType = string | AvroType[] | { type: string; items?: AvroType; values?: AvroType; logicalType?: string };

function columnType(t: AvroType): { type: ColumnType; nullable: boolean } {
  if (Array.isArray(t)) {
    const rest = t.filter((x) => x !== 'null');
    if (rest.length !== 1) return { type: 'JSON', nullable: t.includes('null') };
    return { ...columnType(rest[0]!), nullable: t.includes('null') };
  }
  if (typeof t === 'object') return { type: t.type === 'array' || t.type === 'map' || t.type === 'record' ? 'JSON' : columnType(t.type).type, nullable: false };
  const map: Record<string, ColumnType> = { string: 'VARCHAR', int: 'INTEGER', long: 'BIGINT', double: 'DOUBLE', float: 'DOUBLE', boolean: 'BOOLEAN', bytes: 'VARCHAR' };
  return { type: map[t] ?? 'VARCHAR', nullable: false };
}

/** Columns every raw table carries after the event's own fields. */
export const LINEAGE_COLUMNS: Column[] = [
  { name: 'kafka_topic', type: 'VARCHAR', nullable: false },
  { name: 'kafka_partition', type: 'INTEGER', nullable: false },
  { name: 'kafka_offset', type: 'BIGINT', nullable: false },
  { name: 'ingested_at', type: 'TIMESTAMP', nullable: false },
];

export const rawTableName = (event: EventName): string => `raw_${event}`;

/** Raw table per event type; `timestamp` becomes `event_time TIMESTAMP` (UTC). */
export function rawTables(): Map<EventName, TableSpec> {
  const tables = new Map<EventName, TableSpec>();
  for (const file of readSchemaFiles()) {
    if (!(EVENT_NAMES as readonly string[]).includes(file.name)) continue;
    const schema = JSON.parse(file.text) as { fields: Array<{ name: string; type: AvroType; rule?: ValueRule }> };
    const event = file.name as EventName;
    const userEvent = event !== 'movies_catalog_enriched';
    const columns: Column[] = schema.fields.map((f) => {
      if (f.name === 'timestamp') return { name: 'event_time', type: 'TIMESTAMP', nullable: false };
      const c: Column = { name: f.name, ...columnType(f.type) };
      const rule = userEvent && c.type === 'VARCHAR' ? { maxLength: DEFAULT_MAX_LENGTH, ...f.rule } : f.rule;
      return rule ? { ...c, rule } : c;
    });
    // The catalog is merged (an item's newest version wins), every user event appended.
    tables.set(event, { name: rawTableName(event), key: ['event_id'], columns: [...columns, ...LINEAGE_COLUMNS], version: 'kafka_offset', appendOnly: userEvent });
  }
  return tables;
}

/**
 * The raw path's position of record: per topic-partition, the offset after the last message
 * loaded, and what the loaded range became (rows, duplicates of rows already there, dead
 * letters), and the newest event time loaded. Written in the transaction that loads the rows.
 */
export const RAW_OFFSETS: TableSpec = {
  name: 'segpipe_raw_offsets',
  key: ['topic', 'kafka_partition'],
  columns: [
    { name: 'topic', type: 'VARCHAR', nullable: false },
    { name: 'kafka_partition', type: 'INTEGER', nullable: false },
    { name: 'next_offset', type: 'BIGINT', nullable: false },
    { name: 'rows_loaded', type: 'BIGINT', nullable: false },
    { name: 'duplicates', type: 'BIGINT', nullable: false },
    { name: 'dead_letters', type: 'BIGINT', nullable: false },
    { name: 'loaded_at', type: 'TIMESTAMP', nullable: false },
    // The newest event time loaded (epoch ms), from which the next range's future_timestamp rule starts.
    { name: 'event_time_mark', type: 'BIGINT', nullable: true },
  ],
};
