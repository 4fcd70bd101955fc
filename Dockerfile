# sandboxmock in a container: a static binary on an empty base image,
# run as an unprivileged user. Build from the module root:
#
#   docker build -t sandboxmock .
#   docker run --rm -p 8080:8080 -e SANDBOXMOCK_CONTROL_TOKEN=secret sandboxmock
#
# It listens on all interfaces inside the container, so the control API
# needs a token (SANDBOXMOCK_CONTROL_TOKEN or -control-token); any other
# flag can follow the image name, e.g. `sandboxmock -api-key key`.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sandboxmock ./mockserver/cmd/sandboxmock

FROM scratch
COPY --from=build /out/sandboxmock /sandboxmock
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/sandboxmock", "-listen", "0.0.0.0:8080"]
