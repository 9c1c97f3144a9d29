# One image for every role, on a supported Node line (Node 20 reached end of life on 2026-04-30).
# The services run compiled (npm run build) with node as the container's process: no npm or tsx at
# run time, and SIGTERM reaches the process that shuts down gracefully.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci runs it after installing: fixes to dependencies not released yet.
COPY scripts/patch-dependencies.mjs scripts/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The ingress's spool (SPOOL_DIR, var/spool by default): mount a volume here so it outlives the container.
RUN mkdir -p var/spool && chown node:node var/spool
USER node
# docker-compose.yml picks the role: ingress, worker or relay.
ENTRYPOINT ["node", "dist/services/main.js"]
CMD ["ingress"]
