# seatgate in a container: what `npm start` runs, against the PostgreSQL named by DATABASE_URL.
#   docker build -t seatgate .
#   docker run --rm -p 4000:4000 -e DATABASE_URL=postgres://user:password@db:5432/seatgate seatgate
# The embedded PostgreSQL of `npm start` is for a developer's machine: the container needs a
# DATABASE_URL and says so when it has none. Migrations are applied at start, as with npm start.

# The Node that package.json pins (engines, and the `node` package npm start runs on).
FROM node:24.21.0-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Production dependencies only, exactly as locked. No install scripts: the one that matters
# to seatgate's own runs lays out the embedded PostgreSQL's binaries, which a container with a
# DATABASE_URL never starts.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# Node runs the TypeScript as it is (types stripped): no build step.
COPY src ./src

# Every interface of the container, not only its loopback.
ENV HOST=0.0.0.0 PORT=4000
EXPOSE 4000
USER node

# /healthz answers without a key while the process lives; /readyz also asks the database.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# `exec` leaves node as the container's first process, so `docker stop`'s SIGTERM reaches it and
# it drains before exiting.
CMD ["sh", "-c", "if [ -z \"$DATABASE_URL\" ]; then echo 'seatgate cannot start: set DATABASE_URL (docker run -e DATABASE_URL=postgres://…); the embedded database is for npm start on a developer machine.' >&2; exit 1; fi; exec node --max-semi-space-size=32 src/server.ts"]
