# One image for every role; docker-compose.yml picks the role with the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
CMD ["npm", "run", "start:ingress"]
