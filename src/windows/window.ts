// Windows as values, Kafka Streams style: tumbling(1h), hopping(1h, 15m). All times are epoch ms
// in UTC; a window is the half-open interval [start, end), so an event exactly at 10:15:00.000
// belongs to the windows that start at 10:15, not to those that end there.

export interface WindowSpec {
  /** Stable name, stored as window_type. */
  readonly type: string;
  readonly sizeMs: number;
  readonly advanceMs: number;
}

export interface Window {
  start: number;
  end: number;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

const label = (ms: number) => (ms % HOUR === 0 ? `${ms / HOUR}h` : `${ms / MINUTE}m`);

export function tumbling(sizeMs: number): WindowSpec {
  return hopping(sizeMs, sizeMs);
}

export function hopping(sizeMs: number, advanceMs: number): WindowSpec {
  if (!(sizeMs > 0 && advanceMs > 0 && advanceMs <= sizeMs && sizeMs % advanceMs === 0)) {
    throw new Error(`a window needs 0 < advance <= size with size a multiple of advance; got size ${sizeMs} ms, advance ${advanceMs} ms`);
  }
  return { type: advanceMs === sizeMs ? `tumbling_${label(sizeMs)}` : `sliding_${label(sizeMs)}_${label(advanceMs)}`, sizeMs, advanceMs };
}

/** Every window of `spec` that contains `t`, oldest first. */
export function windowsFor(spec: WindowSpec, t: number): Window[] {
  const last = Math.floor(t / spec.advanceMs) * spec.advanceMs;
  const out: Window[] = [];
  for (let start = last - spec.sizeMs + spec.advanceMs; start <= last; start += spec.advanceMs) out.push({ start, end: start + spec.sizeMs });
  return out;
}

/** Watermark: how far event time has surely progressed, given the allowed lateness. */
export const watermark = (maxEventTime: number, latenessMs: number): number => maxEventTime - latenessMs;

/** Per window type, the end at or before which its windows are final. */
export type FinalThrough = Record<string, number>;

/**
 * The windows holding an event at `t` that are final, as `<type>:<start>` keys: at watermark
 * `wm`, or by the final-through of their type; any one makes the event late.
 */
export function finalWindowKeys(specs: WindowSpec[], t: number, through: number | FinalThrough): string[] {
  const end = (spec: WindowSpec) => (typeof through === 'number' ? through : (through[spec.type] ?? Number.NEGATIVE_INFINITY));
  return specs.flatMap((spec) => windowsFor(spec, t).filter((w) => w.end <= end(spec)).map((w) => `${spec.type}:${w.start}`));
}

/** A shard's final-through as stored ({p<N>}:final): `<type>=<end>` by type, `;`-separated, in type order. */
export function formatFinalThrough(through: FinalThrough): string {
  return Object.keys(through)
    .sort()
    .map((type) => `${type}=${through[type]}`)
    .join(';');
}

export function parseFinalThrough(text: string | null): FinalThrough {
  const out: FinalThrough = {};
  for (const part of (text ?? '').split(';')) {
    const eq = part.lastIndexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = Number(part.slice(eq + 1));
  }
  return out;
}

/** The latest end at or before `wm` of any window of `spec` (ends fall on its advance). */
export const lastEndBy = (spec: WindowSpec, wm: number): number => Math.floor(wm / spec.advanceMs) * spec.advanceMs;

export const REGISTRATION_WINDOWS: WindowSpec[] = [tumbling(HOUR), hopping(HOUR, 15 * MINUTE)];
