// A producing lane of a simulation run: takes the generator's packed batches from its port,
// sends them one request at a time (per-key order within the lane's partitions), and returns a
// credit after each acknowledgement. Every lane runs on a thread of its own
// (workers/simulator-lane.task.ts) with its own connection, so kafkajs's encoding work is split
// across cores and never stalls the thread that started the run (which may serve the admin API).
import type { MessagePort } from 'node:worker_threads';
import { LazyProducer, createKafka } from '../kafka/client.ts';
import type { Config } from '../config.ts';
import type { FromGenerator, ToGenerator } from './generate-task.ts';
import { sendPacked, type PackedBatch, type PackedSend } from './packed.ts';

/** Lane → the thread that started the run, after each acknowledged batch. */
export interface LaneAck {
  events: number;
  /** The batch's latest event time. */
  lastTime: number;
  sends: PackedSend[];
}

/** Resolves once every batch the generator posted to this lane is acknowledged. */
function drainLane(port: MessagePort, send: (batch: PackedBatch) => Promise<PackedSend[]>, onSent: (ack: LaneAck) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    port.on('message', (msg: FromGenerator) => {
      if (msg.kind === 'done') {
        chain.then(resolve, reject);
        return;
      }
      if (msg.kind === 'failed') {
        chain.then(() => reject(new Error(`the generator failed: ${msg.error}`)), reject);
        return;
      }
      chain = chain.then(async () => {
        if (failed) return;
        let sends: PackedSend[];
        try {
          sends = await send(msg.batch);
        } catch (err) {
          failed = true;
          port.postMessage('stop' satisfies ToGenerator);
          reject(err);
          return;
        }
        onSent({ events: msg.batch.count, lastTime: msg.lastTime, sends });
        port.postMessage('credit' satisfies ToGenerator);
      });
    });
  });
}

export interface LaneTask {
  config: Config;
  topicOrder: string[];
  /** From the generator. */
  port: MessagePort;
  /** To the main thread: a LaneAck per acknowledged batch. */
  progress: MessagePort;
}

// The lane thread's producer, connected on its first run and kept for the next bursts; a run
// that fails closes it, so the next one connects afresh.
let laneProducer: LazyProducer | undefined;

/** A lane on its own thread, with its own idempotent producer; returns the events it sent. */
export async function runLane(task: LaneTask): Promise<number> {
  let sent = 0;
  try {
    laneProducer ??= new LazyProducer(createKafka(task.config, `${task.config.kafka.clientId}-lane`), task.config);
    const producer = await laneProducer.get();
    await drainLane(
      task.port,
      (batch) => sendPacked(producer, batch, task.topicOrder),
      (ack) => {
        sent += ack.events;
        task.progress.postMessage(ack);
      },
    );
    return sent;
  } catch (err) {
    task.port.postMessage('stop' satisfies ToGenerator); // the generator must not wait for this lane's credits
    await laneProducer?.close().catch(() => undefined);
    throw err;
  } finally {
    task.port.close();
    task.progress.close();
  }
}
