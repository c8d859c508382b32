// Role `stream`: the consumer group of the state path (src/stream/consumer.ts).
import type { AppContext } from '../context.ts';
import { StreamConsumer } from '../stream/consumer.ts';

export async function startStream(ctx: AppContext): Promise<string> {
  const consumer = new StreamConsumer(ctx, { groupId: ctx.config.stream.groupId });
  await consumer.start();
  ctx.onClose(() => consumer.stop());
  return `consumer group ${ctx.config.stream.groupId} on ${consumer.topics.length} topics`;
}
