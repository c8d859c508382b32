// Piscina task: generate, encode and partition one simulation run in a worker thread, posting
// packed batches to the producing thread (see src/simulator/generate-task.ts).
import { generate, type GenerateTask } from '../src/simulator/generate-task.ts';

export default function simulatorGenerate(task: GenerateTask) {
  return generate(task);
}
