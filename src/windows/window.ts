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

/**
 * The windows holding an event at `t` that are final at watermark `wm`, as `<type>:<start>` keys;
 * any one makes the event late.
 */
export function finalWindowKeys(specs: WindowSpec[], t: number, wm: number): string[] {
  return specs.flatMap((spec) => windowsFor(spec, t).filter((w) => w.end <= wm).map((w) => `${spec.type}:${w.start}`));
}

export const REGISTRATION_WINDOWS: WindowSpec[] = [tumbling(HOUR), hopping(HOUR, 15 * MINUTE)];
