# Multi-stage build: a static binary (CGO off) on an empty, non-root runtime image.
# docker build --build-arg VERSION=$(git describe --tags --always) -t redhook .
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

FROM scratch
COPY --from=build /out/redhook /usr/local/bin/redhook
# redhook never calls the Kubernetes API and writes no file: any non-root user will do.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["redhook", "serve"]
