// Piscina task: one producing lane of a simulation run on its own thread, with its own Kafka
// connection (see src/simulator/lane.ts).
import { runLane, type LaneTask } from '../src/simulator/lane.ts';

export default function simulatorLane(task: LaneTask) {
  return runLane(task);
}
