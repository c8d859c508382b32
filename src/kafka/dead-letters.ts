// Dead letters to the dead-letter topic, in requests the broker takes. A batch of dead letters is
// bigger than the batch it came from (each carries its origin and error in headers), so one
// request of them can pass the topic's max.message.bytes, which the broker refuses whole: the
// letters go in requests of at most half that, and a letter too big even alone goes as a stub,
// its first bytes with the reason `too_large` and its original reason and size, still at its
// source offset.
import type { IHeaders, Message, Producer } from 'kafkajs';
import type { AppContext } from '../context.ts';
import { scanTopics } from './scan.ts';

export interface DeadLetter {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  reason: string;
  error: string;
}

/** Bytes of a letter's value kept in a `too_large` stub. */
export const STUB_BYTES = 1024;
/** Per-record overhead beyond key, value and headers (record header, varints), with room to spare. */
const RECORD_OVERHEAD = 64;

function sizeOf(m: Message): number {
  let n = RECORD_OVERHEAD + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + String(v).length + 8;
  return n;
}

/** The letters as messages for the dead-letter topic; one bigger than `limit` alone becomes a stub. */
export function deadLetterMessages(source: { topic: string; partition: number }, dead: DeadLetter[], limit: number): Message[] {
  return dead.map((d) => {
    const headers: IHeaders = {
      source_topic: source.topic,
      source_partition: String(source.partition),
      source_offset: d.offset,
      reason: d.reason,
      error: d.error.slice(0, 1000),
    };
    const m: Message = { key: d.key, value: d.value, headers };
    if (sizeOf(m) <= limit) return m;
    const key = d.key && d.key.length > STUB_BYTES ? d.key.subarray(0, STUB_BYTES) : d.key;
    return {
      key,
      value: d.value ? d.value.subarray(0, STUB_BYTES) : null,
      headers: { ...headers, reason: 'too_large', original_reason: d.reason, original_bytes: String((d.key?.length ?? 0) + (d.value?.length ?? 0)) },
    };
  });
}

/** Consecutive runs of messages of at most `limit` bytes each (a message alone is at most `limit`). */
export function requestsUnder(messages: Message[], limit: number): Message[][] {
  const out: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const n = sizeOf(m);
    if (current.length > 0 && bytes + n > limit) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Sends the letters of one source partition, request after request, each under `limit` bytes. */
export async function sendDeadLetters(producer: Producer, dlqTopic: string, source: { topic: string; partition: number }, dead: DeadLetter[], limit: number): Promise<void> {
  for (const messages of requestsUnder(deadLetterMessages(source, dead, limit), limit)) {
    await producer.send({ topic: dlqTopic, acks: -1, messages });
  }
}

/** A source message by where it was in Kafka. */
export interface SourceOffset {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The events the stream left out of its state as late (their raw rows are loaded): read from the
 * dead-letter topic, for the oracle to leave out too. Repeats (a dead letter sent again after a
 * crash) come once.
 */
export async function lateDeadLetters(ctx: AppContext): Promise<SourceOffset[]> {
  const seen = new Map<string, SourceOffset>();
  await scanTopics(ctx, [ctx.config.topics.dlq], ({ headers: h }) => {
    if (h.reason !== 'late' && h.original_reason !== 'late') return;
    seen.set(`${h.source_topic}:${h.source_partition}:${h.source_offset}`, { topic: String(h.source_topic), partition: Number(h.source_partition), offset: Number(h.source_offset) });
  });
  return [...seen.values()];
}
