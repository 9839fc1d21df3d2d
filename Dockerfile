# syntax=docker/dockerfile:1
# Build: docker build -t caddy-mcp-gateway .
# Run:   docker run -p 80:80 -p 443:443 -e ADMIN_PASSWORD=... -v mcp-data:/data caddy-mcp-gateway

FROM golang:1.26-bookworm AS builder
ARG XCADDY_VERSION=v0.4.5
ARG CADDY_VERSION=v2.11.9
RUN go install github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 xcaddy build ${CADDY_VERSION} --output /out/caddy \
	--with github.com/caddymcp/gateway@v0.0.0=/src

FROM debian:bookworm-slim
RUN apt-get update \
	&& apt-get install -y --no-install-recommends ca-certificates curl \
	&& rm -rf /var/lib/apt/lists/* \
	&& mkdir -p /config /data /etc/caddy
COPY --from=builder /out/caddy /usr/bin/caddy
COPY Caddyfile /etc/caddy/Caddyfile

# Caddy keeps certificates and the registry (mcp-registry.db) under /data.
ENV XDG_CONFIG_HOME=/config \
	XDG_DATA_HOME=/data \
	MCP_REGISTRY_STORAGE=/data/caddy/mcp-registry.db \
	MCP_BIND=0.0.0.0
VOLUME ["/config", "/data"]
EXPOSE 80 443 443/udp 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
	CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

WORKDIR /srv
ENTRYPOINT ["caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
