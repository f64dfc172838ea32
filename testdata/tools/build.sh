#!/usr/bin/env bash
# Builds pinned tools, when missing, into ${REDHOOK_CACHE:-$HOME/.cache/redhook}/bin (reused
# when present). Usage: build.sh [kube] [lint] (no argument: kube).
#   kube: kube-apiserver-<ver>, kubectl-<ver>  from k8s.io/kubernetes (testdata/tools/kube/go.mod)
#         helm-<ver>                           from helm.sh/helm/v3   (testdata/tools/helm/go.mod)
#         and Debian's etcd-server when `etcd` is not on PATH (needs root)
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

kube_tools() {
	kube=$(required "$here/kube" k8s.io/kubernetes)
	helm=$(required "$here/helm" helm.sh/helm/v3)
	minor=${kube#v1.}
	minor=${minor%%.*}
	kubeflags="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
	kubeflags="$kubeflags -X k8s.io/client-go/pkg/version.gitVersion=$kube -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

	build "$here/kube" k8s.io/kubernetes/cmd/kube-apiserver "$bin/kube-apiserver-$kube" "$kubeflags"
	build "$here/kube" k8s.io/kubernetes/cmd/kubectl "$bin/kubectl-$kube" "$kubeflags"
	build "$here/helm" helm.sh/helm/v3/cmd/helm "$bin/helm-$helm" "-X helm.sh/helm/v3/internal/version.version=$helm -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

	if ! command -v etcd >/dev/null 2>&1; then
		if [ "$(id -u)" != 0 ]; then
			echo "kube-tools: etcd missing; run: sudo apt-get install -y etcd-server" >&2
			exit 1
		fi
		echo "kube-tools: installing etcd-server"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
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
	lint) lint_tools ;;
	*) echo "build.sh: unknown tool group $group (kube, lint)" >&2; exit 2 ;;
	esac
done
