# One image, every role: `docker run segpipe <role>` (api | scheduler | worker | stream | all).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY queues ./queues
COPY workers ./workers
COPY schemas ./schemas
COPY data ./data
RUN mkdir -p /app/.local && chown -R node:node /app/.local /app/data
USER node
ENTRYPOINT ["node", "bin/segpipe.mjs"]
CMD ["all"]
