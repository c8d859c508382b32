import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default'],
    // Integration files share one broker, registry and Redis and run one at a time, so
    // timing-sensitive tests (rebalances, restarts) do not fight over two cores.
    fileParallelism: false,
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts'],
          // Starts Kafka, the Schema Registry and Redis on test ports unless the env names them.
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        // npm run test:cluster: a three-node Kafka cluster of its own, with brokers killed.
        test: { name: 'cluster', include: ['test/cluster/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 300_000 },
      },
    ],
  },
});
