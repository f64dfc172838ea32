# redhook's image: the static binary of `make build` (bin/redhook, CGO off, version stamped) on
# an empty, non-root image. The last stage reads nothing but the build context, so it builds
# offline:
#   make build && docker build -t redhook .
# Without Go on the machine, Docker compiles the binary first (needs the network):
#   docker build --target binary --build-arg VERSION=$(git describe --tags --always) --output bin .
#   docker build -t redhook .
# The e2e tests build the last stage without Docker (manifests/e2e/images_test.go): it may use
# FROM scratch, COPY (from the context), USER, EXPOSE and ENTRYPOINT only.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY hooks ./hooks
COPY healer ./healer
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/redhook ./cmd/redhook

FROM scratch AS binary
COPY --from=build /out/redhook /redhook

FROM scratch
COPY bin/redhook /usr/local/bin/redhook
# redhook never calls the Kubernetes API and writes no file: any non-root user will do.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["redhook", "serve"]
