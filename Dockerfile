# revocast: one static binary in a small, non-root image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/revocast ./cmd/revocast
# Mount points owned by the non-root user, so named volumes start writable for it.
RUN mkdir -p /out/keys /out/event-keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/revocast /usr/local/bin/revocast
COPY --from=build --chown=nonroot:nonroot /out/keys /keys
COPY --from=build --chown=nonroot:nonroot /out/event-keys /event-keys
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/revocast"]
