# redhook — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := bin/redhook
LISTEN    ?= 127.0.0.1:8080
# Debian packages the tests start for real (healer integration tests).
APT_PKGS  := redis-server redis-sentinel redis-tools
FUZZTIME  ?= 10s
CONTROLLER_GEN := $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
CRD_FILE  := databases.spotahome.com_redisfailovers.yaml
# controller-gen gives every kind of ./hooks the package's group and version (the RedisFailover's):
# the RedisCluster CRD it writes as GEN_CLUSTER_CRD is renamed to redhook.io/v1alpha1.
CLUSTER_CRD_FILE := redhook.io_redisclusters.yaml
GEN_CLUSTER_CRD  := databases.spotahome.com_redisclusters.yaml
CLUSTER_CRD_RENAME := sed -e 's/^  name: redisclusters.databases.spotahome.com$$/  name: redisclusters.redhook.io/' \
	-e 's/^  group: databases.spotahome.com$$/  group: redhook.io/' -e 's/^    name: v1$$/    name: v1alpha1/'
# Pinned tools built by testdata/tools/build.sh (versions from the tools modules' go.mod).
TOOLS_BIN := $(or $(REDHOOK_CACHE),$(HOME)/.cache/redhook)/bin
STATICCHECK_VERSION := $(shell awk '$$1 == "require" && $$2 == "honnef.co/go/tools" {print $$3}' testdata/tools/lint/go.mod)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/redhook (static, version stamped)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/redhook

.PHONY: run
run: build deps ## Run manifests/examples/basic.yaml as local redis/sentinel processes, master port 6380
	$(BIN) local -f manifests/examples/basic.yaml --master-port 6380

.PHONY: serve
serve: build ## Run the hook server on $(LISTEN) (see README for a curl example)
	$(BIN) serve --listen $(LISTEN) --log-level debug

.PHONY: deps
deps: ## Install the Debian packages the tests need, when missing (needs root)
	@missing=(); for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing+=($$p); done; \
	if [ $${#missing[@]} -gt 0 ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing packages: $${missing[*]}; run: sudo apt-get install -y $${missing[*]}"; exit 1; fi; \
	  echo "installing $${missing[*]}"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $${missing[*]} >/dev/null; \
	fi

.PHONY: lint
lint: ## gofmt, go vet, staticcheck (pinned, built into $REDHOOK_CACHE), go mod tidy -diff
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./manifests/e2e/
	@GO=$(GO) testdata/tools/build.sh lint | grep -v ' present$$' || true
	$(TOOLS_BIN)/staticcheck-$(STATICCHECK_VERSION) ./...
	$(TOOLS_BIN)/staticcheck-$(STATICCHECK_VERSION) -tags e2e ./manifests/e2e/
	$(GO) mod tidy -diff

.PHONY: unit
unit: ## Only the pure tests (hooks, healer/decision): seconds, no processes, no API server
	$(GO) test -count=1 ./hooks/... ./healer/decision/...

.PHONY: test
test: deps lint verify-manifests kube-tools e2e-deps build ## Install what the tests need, then run every test, the end-to-end ones last (what CI runs)
	@# The RedisCluster healer's tests run alone: beside the healer's (2 cores) their scale test
	@# failed twice in a row (a write to a just-removed node; docs/redis-cluster.md).
	$(GO) test -count=1 ./healer/rediscluster/
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/healer/rediscluster$$')
	$(GO) test -count=1 -race -short ./hooks/... ./cmd/... ./healer/...
	$(E2E_TEST)

.PHONY: e2e-deps
e2e-deps: ## Build the e2e cluster's binaries into $REDHOOK_CACHE and install its Debian packages (root)
	GO=$(GO) testdata/tools/build.sh e2e

# The end-to-end tests (build tag e2e: `go test ./...` leaves them out; they need root).
E2E_TEST = $(GO) test -tags e2e -count=1 -timeout 40m -v ./manifests/e2e/ $(if $(RUN),-run '$(RUN)')

.PHONY: e2e
e2e: e2e-deps build ## Only the end-to-end tests on a real single-node Kubernetes (root; part of make test; RUN=TestFailover for one)
	$(E2E_TEST)

.PHONY: manifests
manifests: ## Generate the CRDs (manifests/crd, charts/redhook/crds) and deepcopy code from hooks/types.go and hooks/cluster_types.go
	$(CONTROLLER_GEN) object paths=./hooks/...
	$(CONTROLLER_GEN) crd:maxDescLen=0 paths=./hooks/... output:crd:dir=manifests/crd
	$(CLUSTER_CRD_RENAME) manifests/crd/$(GEN_CLUSTER_CRD) > manifests/crd/$(CLUSTER_CRD_FILE)
	rm manifests/crd/$(GEN_CLUSTER_CRD)
	cp manifests/crd/$(CRD_FILE) charts/redhook/crds/$(CRD_FILE)
	cp manifests/crd/$(CLUSTER_CRD_FILE) charts/redhook/crds/$(CLUSTER_CRD_FILE)

.PHONY: verify-manifests
verify-manifests: ## Fail when the committed CRD or deepcopy code differ from what the Go types generate
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	cp hooks/zz_generated.deepcopy.go $$tmp/deepcopy.go; \
	$(CONTROLLER_GEN) object paths=./hooks/... && \
	$(CONTROLLER_GEN) crd:maxDescLen=0 paths=./hooks/... output:crd:dir=$$tmp/crd && \
	$(CLUSTER_CRD_RENAME) $$tmp/crd/$(GEN_CLUSTER_CRD) > $$tmp/crd/$(CLUSTER_CRD_FILE) && \
	status=0; \
	diff -u $$tmp/deepcopy.go hooks/zz_generated.deepcopy.go || status=1; \
	cp $$tmp/deepcopy.go hooks/zz_generated.deepcopy.go; \
	for f in $(CRD_FILE) $(CLUSTER_CRD_FILE); do \
	  for d in manifests/crd charts/redhook/crds; do \
	    diff -q $$tmp/crd/$$f $$d/$$f >/dev/null || { echo "$$d/$$f differs from the Go types: run make manifests"; status=1; }; \
	  done; \
	done; \
	exit $$status

.PHONY: golden
golden: ## Rewrite hooks/testdata/sync/*/response.golden.json (review the diff!)
	$(GO) test ./hooks -run 'TestSync(Cluster)?Golden' -update
	@git --no-pager diff --stat -- hooks/testdata/sync hooks/testdata/sync-cluster || true

.PHONY: fuzz
fuzz: ## Fuzz hooks.Sync for FUZZTIME (default 10s)
	$(GO) test -run '^$$' -fuzz '^FuzzSync$$' -fuzztime $(FUZZTIME) ./hooks

.PHONY: bench
bench: deps ## Sync handler vs the JSON floor (target ratio <= 1.5); healer: one heal pass (3+3), 20 cold RedisFailovers
	@mkdir -p bin
	@$(GO) test -run '^$$' -bench '^Benchmark(SyncHTTP|JSONFloor)$$' -benchmem -count 5 ./cmd/redhook | tee bin/bench.txt
	@awk '/^BenchmarkSyncHTTP/ {s[++ns]=$$3} /^BenchmarkJSONFloor/ {f[++nf]=$$3} \
	  function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] } \
	  END { ms = median(s, ns); mf = median(f, nf); printf "median SyncHTTP %.0f ns/op, JSONFloor %.0f ns/op, ratio %.2f (target <= 1.5)\n", ms, mf, ms / mf }' bin/bench.txt
	$(GO) test -run '^$$' -bench '^BenchmarkHealPassHealthy$$' -benchtime 200x -benchmem ./healer
	$(GO) test -run '^$$' -bench '^BenchmarkConvergeTwentyCold$$' -benchtime 3x ./healer

.PHONY: chaos
chaos: deps ## Only the healer's chaos test (part of make test): random kills for CHAOS (default 2m), no confirmed write may be lost
	REDHOOK_CHAOS=$(or $(CHAOS),2m) $(GO) test -count=1 -timeout 0 -run '^TestIntegrationChaos$$' -v ./healer/

.PHONY: bench-failover
bench-failover: build deps ## Failover times and lost writes of a local RedisFailover, D = 5000 and 1000 ms, and sentinel-less mode at 5 s, 10 runs each (~20 min)
	$(BIN) bench-failover --runs $(or $(RUNS),10) --down-after 5000,1000 --sentinelless

.PHONY: bench-scale
bench-scale: build ## redhook serve under the syncs of many RedisFailovers: N=1000 at P=2s, N=3000 at P=30s, then idle (~11 min)
	$(BIN) bench-scale --n 1000 --period 2s --warmup 30s --runs $(or $(RUNS),1)
	$(BIN) bench-scale --n 3000 --period 30s --warmup 90s --idle-settle 3m --idle-window 2m --runs $(or $(RUNS),1)

.PHONY: clean
clean: ## Remove build output
	rm -rf bin

.PHONY: kube-tools
kube-tools: ## Build pinned kube-apiserver, kubectl, helm into $REDHOOK_CACHE (~/.cache/redhook); install etcd
	GO=$(GO) testdata/tools/build.sh
