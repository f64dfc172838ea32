#!/usr/bin/env bash
# Builds pinned tools, when missing, into ${REDHOOK_CACHE:-$HOME/.cache/redhook}/bin (reused
# when present). Usage: build.sh [kube] [e2e] [lint] (no argument: kube).
#   kube: kube-apiserver-<ver>, kubectl-<ver>  from k8s.io/kubernetes (testdata/tools/kube/go.mod)
#         helm-<ver>                           from helm.sh/helm/v3   (testdata/tools/helm/go.mod)
#         and Debian's etcd-server when `etcd` is not on PATH (needs root)
#   e2e:  kube plus every other Kubernetes binary (kube-controller-manager, kube-scheduler, kubelet,
#         kube-proxy), Debian's containerd, runc, CNI plugins, iptables, conntrack, busybox, redis, and
#         coredns-<ver>: CoreDNS with only the e2e Corefile's plugins (testdata/tools/coredns, main.go)
#   lint: staticcheck-<ver>                    from honnef.co/go/tools (testdata/tools/lint/go.mod)
# The versions come from the require lines of the tools modules: bump them there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${REDHOOK_CACHE:-$HOME/.cache/redhook}
bin=$cache/bin
go=${GO:-go}
mkdir -p "$bin"

# required MODULE_DIR MODULE_PATH: the version a tools module requires.
required() {
	awk -v m="$2" '$1 == "require" && $2 == m {print $3} $1 == m && NF == 2 {print $2}' "$1/go.mod" | head -n1
}

# build MODULE_DIR PACKAGE OUTPUT LDFLAGS
build() {
	local dir=$1 pkg=$2 out=$3 ldflags=$4
	if [ -x "$out" ]; then
		echo "tools: $out present"
		return
	fi
	echo "tools: building $out from $pkg"
	local start=$SECONDS
	# Build to a temporary name first: an interrupted build never leaves a "present" binary.
	CGO_ENABLED=0 "$go" build -C "$dir" -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg"
	mv "$out.tmp" "$out"
	echo "tools: built $out in $((SECONDS - start))s"
}

kube_version() {
	kube=$(required "$here/kube" k8s.io/kubernetes)
	minor=${kube#v1.}
	minor=${minor%%.*}
	kubeflags="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	kubeflags="$kubeflags -X k8s.io/client-go/pkg/version.gitVersion=$kube -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
}

# kube_binaries: every Kubernetes binary the e2e cluster runs, the missing ones built by ONE go build
# into a temporary directory, then renamed with the version.
kube_binaries() {
	kube_version
	local missing=() cmd
	for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
		if [ -x "$bin/$cmd-$kube" ]; then
			echo "tools: $bin/$cmd-$kube present"
		else
			missing+=("k8s.io/kubernetes/cmd/$cmd")
		fi
	done
	if [ ${#missing[@]} -gt 0 ]; then
		local tmp start=$SECONDS
		tmp=$(mktemp -d "$bin/.e2e-build.XXXXXX")
		echo "tools: building ${missing[*]##*/} ($kube) in one go build"
		CGO_ENABLED=0 "$go" build -C "$here/kube" -trimpath -ldflags "-s -w $kubeflags" -o "$tmp/" "${missing[@]}"
		for cmd in "${missing[@]}"; do
			mv "$tmp/${cmd##*/}" "$bin/${cmd##*/}-$kube"
		done
		rmdir "$tmp"
		echo "tools: built ${#missing[@]} Kubernetes binaries in $((SECONDS - start))s"
	fi
	kube_tools
}

e2e_tools() {
	kube_binaries
	local dns
	dns=$(required "$here/coredns" github.com/coredns/coredns)
	build "$here/coredns" . "$bin/coredns-$dns" ""
	debian_packages containerd runc containernetworking-plugins iptables conntrack busybox-static \
		redis-server redis-sentinel redis-tools
}

# debian_packages PKG...: apt-get install the missing ones (needs root).
debian_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "tools: missing Debian packages ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "tools: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

kube_tools() {
	kube_version
	helm=$(required "$here/helm" helm.sh/helm/v3)

	build "$here/kube" k8s.io/kubernetes/cmd/kube-apiserver "$bin/kube-apiserver-$kube" "$kubeflags"
	build "$here/kube" k8s.io/kubernetes/cmd/kubectl "$bin/kubectl-$kube" "$kubeflags"
	build "$here/helm" helm.sh/helm/v3/cmd/helm "$bin/helm-$helm" "-X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

	if ! command -v etcd >/dev/null 2>&1; then
		debian_packages etcd-server
	fi
}

lint_tools() {
	local sc
	sc=$(required "$here/lint" honnef.co/go/tools)
	build "$here/lint" honnef.co/go/tools/cmd/staticcheck "$bin/staticcheck-$sc" ""
}

[ $# -gt 0 ] || set -- kube
for group in "$@"; do
	case $group in
	kube) kube_tools ;;
	e2e) e2e_tools ;;
	lint) lint_tools ;;
	*) echo "build.sh: unknown tool group $group (kube, e2e, lint)" >&2; exit 2 ;;
	esac
done
