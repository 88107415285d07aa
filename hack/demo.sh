#!/usr/bin/env bash
# A local demo of the operator: a control plane (the kube-apiserver and etcd of the tests, no
# kubelet), the fake Cloudflare API (or the real one), the manager, and every sample in
# config/samples reconciled to Ready, including the CloudflareTunnel "edge" with its connector and
# the services that use it through tunnelRef. Everything runs as local processes with pid files
# and logs in the state directory; nothing needs Docker or a cluster.
#
# No pod ever runs here (no kubelet), so the tunnel's cloudflared Deployment never gets pods. With
# the fake API the demo plays the connector's part to show the tunnel turning Ready: it sets the
# fake tunnel healthy through the fake's admin API and marks the Deployment available by patching
# its status.
#
#   hack/demo.sh up     start it all (stops a previous demo first); `make demo` runs this
#   hack/demo.sh down   stop it all and remove the state directory; `make demo-down` runs this
#
# Environment:
#   ENVTEST_ASSETS      directory with kube-apiserver, etcd and kubectl (`make envtest` builds it;
#                       the Makefile passes it)
#   DEMO_DIR            state directory (default: bin/demo)
#   CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_TUNNEL_ID
#                       when the first two are set, the demo talks to the REAL Cloudflare API
#                       instead of the fake: it creates the sample services in that account, on
#                       that tunnel (required then: the samples' tunnel exists only in the fake),
#                       and `down` deletes them again. The token is never printed. The sample
#                       CloudflareTunnel creates a real tunnel (the token needs "Cloudflare Tunnel
#                       Edit" too), which stays not Ready (no connector runs) and which `down`
#                       deletes.
#   CLOUDFLARE_API_URL  base URL of the real API (default: the manager's default)
set -Eeuo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

state_dir=${DEMO_DIR:-$root/bin/demo}
assets=${ENVTEST_ASSETS:-${KUBEBUILDER_ASSETS:-}}
kubectl_bin=${KUBECTL:-${assets:+$assets/kubectl}}
operator_ns=connectivity-operator-system
samples_ns=default
tunnel_name=edge
connector=$tunnel_name-cloudflared
secret_name=cloudflare-credentials
controlplane_bin=$root/bin/demo-controlplane
manager_bin=$root/bin/manager
fake_bin=$root/bin/fake-cloudflare-api
kubeconfig=$state_dir/kubeconfig

current_step=""
current_log=""
started_at=$SECONDS

# step announces what the demo does next; the failure report names it and its log.
step() {
	current_step=$1
	current_log=${2:-}
	echo "demo: $1…"
}

report_failure() {
	echo "demo: FAILED while ${current_step:-starting}${1:+: $1}" >&2
	if [[ -n $current_log && -f $current_log ]]; then
		echo "demo: its log is $current_log; the last lines:" >&2
		tail -n 25 "$current_log" | sed 's/^/    /' >&2
	fi
	if [[ -d $state_dir ]]; then
		echo "demo: what started is still running (logs in $state_dir); stop it with: make demo-down" >&2
	fi
}

on_err() {
	local rc=$? line=$1
	# In a command substitution the failure is the caller's to judge (e.g. a missing pid file).
	[[ $BASHPID == "$$" ]] || exit "$rc"
	trap - ERR
	report_failure "a command exited with status $rc (hack/demo.sh line $line)"
	exit "$rc"
}
trap 'on_err $LINENO' ERR

die() {
	trap - ERR
	report_failure "$1"
	exit 1
}

kc() {
	"$kubectl_bin" --kubeconfig "$kubeconfig" "$@"
}

# is_running PID PATTERN: the process is alive and its command line contains PATTERN (so a
# recycled pid of some other program is never signalled).
is_running() {
	local pid=$1 pattern=$2
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/cmdline ]]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pattern" || return 1
	fi
}

# stop_pid NAME PIDFILE PATTERN TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
	local name=$1 file=$2 pattern=$3 timeout=$4 pid i
	[[ -f $file ]] || return 0
	pid=$(<"$file")
	if is_running "$pid" "$pattern"; then
		echo "demo: stopping the $name (pid $pid)…"
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < timeout * 10; i++)); do
			is_running "$pid" "$pattern" || break
			sleep 0.1
		done
		if is_running "$pid" "$pattern"; then
			echo "demo: the $name did not stop within ${timeout}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$file"
}

# wait_for_line FILE REGEX PID TIMEOUT: wait until FILE has a line matching REGEX while PID runs.
wait_for_line() {
	local file=$1 regex=$2 pid=$3 timeout=$4 i
	for ((i = 0; i < timeout * 10; i++)); do
		grep -qE -- "$regex" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || die "the process (pid $pid) exited"
		sleep 0.1
	done
	die "nothing matching '$regex' in its output within ${timeout}s"
}

# start_bg NAME LOG PIDFILE COMMAND...: run COMMAND in the background in a session of its own, so
# it keeps running after make returns and a Ctrl-C in the terminal does not reach it.
start_bg() {
	local log=$2 pidfile=$3
	shift 3
	if command -v setsid >/dev/null; then
		setsid "$@" >"$log" 2>&1 </dev/null &
	else
		nohup "$@" >"$log" 2>&1 </dev/null &
	fi
	echo $! >"$pidfile"
}

# free_port: a TCP port on 127.0.0.1 nothing listens on.
free_port() {
	local port
	for ((port = 18081; port < 18181; port++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

# sample_values KEY: the distinct values of KEY in the samples (account and tunnel ids).
sample_values() {
	grep -ho "$1: *[0-9a-f-]*" config/samples/*.yaml | awk '{print $2}' | sort -u | paste -sd, -
}

# delete_real_tunnels deletes the demo's CloudflareTunnels, and with them their tunnels in the
# real account (Orphan ones too), once the services that use them are gone.
delete_real_tunnels() {
	local t
	echo "demo: deleting the demo's tunnels from your Cloudflare account…"
	for t in $(kc get cloudflaretunnels -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
		kc -n "${t%%/*}" patch cloudflaretunnel "${t#*/}" --type merge \
			-p '{"spec":{"deletionPolicy":"Delete"}}' >/dev/null || true
	done
	kc delete cloudflaretunnels --all -A --timeout=120s ||
		echo "demo: WARNING: not every tunnel was deleted; check your account (kubectl get cftunnel -A -o wide)" >&2
}

down() {
	if [[ ! -d $state_dir ]]; then
		echo "demo: nothing to stop ($state_dir does not exist)"
		return 0
	fi
	current_step="stopping the demo"
	if [[ $(cat "$state_dir/mode" 2>/dev/null) == real ]] &&
		! { [[ -f $state_dir/manager.pid ]] && is_running "$(<"$state_dir/manager.pid")" "$manager_bin"; }; then
		echo "demo: WARNING: the manager is not running, so the demo's services and tunnels (if any) stay in your Cloudflare account" >&2
	elif [[ $(cat "$state_dir/mode" 2>/dev/null) == real ]]; then
		echo "demo: deleting the demo's services from your Cloudflare account (Orphan ones too)…"
		for svc in $(kc get connectivityservices -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
			kc -n "${svc%%/*}" patch connectivityservice "${svc#*/}" --type merge \
				-p '{"spec":{"deletionPolicy":"Delete"}}' >/dev/null || true
		done
		kc delete connectivityservices --all -A --timeout=120s ||
			echo "demo: WARNING: not every service was deleted; check your account (kubectl get cfsvc -A -o wide)" >&2
		delete_real_tunnels
	fi
	stop_pid manager "$state_dir/manager.pid" "$manager_bin" 30
	stop_pid "fake Cloudflare API" "$state_dir/fake.pid" "$fake_bin" 10
	stop_pid "control plane" "$state_dir/controlplane.pid" "$controlplane_bin" 60
	# kube-apiserver and etcd stop with the control plane; these pids matter only if it was killed.
	# kube-apiserver first: it shuts down slowly once etcd is gone.
	local pid name
	for name in kube-apiserver etcd; do
		for pid in $(cat "$state_dir/controlplane/children.pid" 2>/dev/null); do
			is_running "$pid" "$name" || continue
			echo "$pid" >"$state_dir/leftover.pid"
			stop_pid "leftover $name" "$state_dir/leftover.pid" "$state_dir/controlplane" 20
		done
	done
	echo "demo: removing $state_dir…"
	rm -rf "$state_dir"
	echo "demo: stopped"
}

# show_tunnel shows the sample CloudflareTunnel with the services that use it through tunnelRef,
# and the connector objects the operator wrote for it.
show_tunnel() {
	step "showing CloudflareTunnel $tunnel_name and what the operator made for its connector" "$state_dir/manager.log"
	kc -n "$samples_ns" wait --for=jsonpath='{.status.tunnelID}' "cloudflaretunnel/$tunnel_name" --timeout=60s >/dev/null ||
		die "CloudflareTunnel $tunnel_name got no tunnel id"
	show kubectl get cftunnel,cfsvc -n "$samples_ns"
	show kubectl get deploy,pdb,networkpolicy,secret -n "$samples_ns" -l app.kubernetes.io/managed-by=connectivity-operator
	echo "demo: the connector's egress NetworkPolicy allows DNS, Cloudflare's edge and the origins of the"
	echo "demo: services that use the tunnel, and nothing else:"
	show kubectl get networkpolicy "$connector" -n "$samples_ns" -o yaml
}

# show_service_ref shows a service made from a Kubernetes Service (host.serviceRef): the Service,
# the host the operator worked out and sent, and the binding it exported for a Worker.
show_service_ref() {
	step "showing ConnectivityService orders-from-service, made from the Service orders" "$state_dir/manager.log"
	show kubectl get service orders -n "$samples_ns"
	echo "demo: the operator sent the Service's cluster DNS name and its port named http (status.host):"
	show kubectl get connectivityservice orders-from-service -n "$samples_ns" -o jsonpath='{.status.host}{"\n"}'
	echo "demo: and wrote the binding a Worker's CI reads (spec.export):"
	show kubectl get configmap orders-api-vpc-binding -n "$samples_ns" -o jsonpath='{.data.wrangler\.json}'
}

# show prints a kubectl command as a user would type it, then runs it with the demo's kubeconfig
# and indents its output.
show() {
	shift # "kubectl"
	echo "\$ kubectl $*"
	kc "$@" | sed 's/^./    &/'
	echo
}

# play_connector makes the tunnel Ready against the fake API at BASE by doing what running
# connector pods would cause (explain_no_pods says why and how). The Deployment's status change
# wakes the tunnel at once.
play_connector() {
	local base=$1
	explain_no_pods
	step "setting the fake tunnel healthy and marking Deployment $connector available" "$state_dir/manager.log"
	set_fake_tunnel_healthy "$base"
	mark_connector_available
	step "waiting for CloudflareTunnel $tunnel_name to be Ready" "$state_dir/manager.log"
	if ! kc -n "$samples_ns" wait --for=condition=Ready "cloudflaretunnel/$tunnel_name" --timeout=90s >/dev/null; then
		kc get cftunnel -n "$samples_ns" -o wide >&2 || true
		die "CloudflareTunnel $tunnel_name did not become Ready (see the table above)"
	fi
	echo
	show kubectl get cftunnel,cfsvc -n "$samples_ns"
}

# explain_no_pods says plainly why the demo plays the connector's part, and how.
explain_no_pods() {
	echo "demo: the connector's pods cannot run here: this control plane has no kubelet (nor scheduler or"
	echo "demo: controller-manager), so Deployment $connector never gets a pod and the tunnel stays not Ready"
	echo "demo: (ConnectorUnavailable). To show it turning Ready, the demo plays the connector's part:"
	echo "demo:   1. it sets the fake tunnel healthy through the fake's admin API (POST /_fake/tunnel-health),"
	echo "demo:      as cloudflared connecting to Cloudflare's edge would;"
	echo "demo:   2. it marks the Deployment available by patching its status, as the deployment controller"
	echo "demo:      would once the pods are ready."
}

# set_fake_tunnel_healthy reports the tunnel healthy, with one connection per replica, in the fake
# at BASE.
set_fake_tunnel_healthy() {
	local base=$1 id account replicas body
	id=$(kc -n "$samples_ns" get cloudflaretunnel "$tunnel_name" -o jsonpath='{.status.tunnelID}')
	account=$(kc -n "$samples_ns" get cloudflaretunnel "$tunnel_name" -o jsonpath='{.status.accountID}')
	replicas=$(kc -n "$samples_ns" get deployment "$connector" -o jsonpath='{.spec.replicas}')
	body="{\"id\":\"$id\",\"status\":\"healthy\",\"connections\":$replicas}"
	echo "\$ curl -X POST '$base/_fake/tunnel-health?account=$account' -d '$body'"
	fake_admin_post "$base" "/_fake/tunnel-health?account=$account" "$body" ||
		die "the fake did not accept the tunnel's health"
}

# mark_connector_available writes the status the deployment controller would write once every
# connector pod is available.
mark_connector_available() {
	local generation replicas status
	generation=$(kc -n "$samples_ns" get deployment "$connector" -o jsonpath='{.metadata.generation}')
	replicas=$(kc -n "$samples_ns" get deployment "$connector" -o jsonpath='{.spec.replicas}')
	status="{\"status\":{\"observedGeneration\":$generation,\"replicas\":$replicas,\"updatedReplicas\":$replicas,"
	status+="\"readyReplicas\":$replicas,\"availableReplicas\":$replicas}}"
	echo "\$ kubectl patch deployment $connector -n $samples_ns --subresource=status --type=merge -p '$status'"
	kc -n "$samples_ns" patch deployment "$connector" --subresource=status --type=merge -p "$status" >/dev/null
}

# fake_admin_post BASE PATH BODY: POST the JSON BODY to the fake's admin endpoint PATH; fails
# unless it answers 2xx. Uses curl, or bash's /dev/tcp without it.
fake_admin_post() {
	local base=$1 path=$2 body=$3 hostport code
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' --data "$body" "$base$path"
		return
	fi
	hostport=${base#http://}
	exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
	printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$path" "$hostport" "${#body}" "$body" >&3
	read -r _ code _ <&3
	exec 3<&-
	[[ $code == 2* ]]
}

up() {
	current_step="checking the prerequisites"
	[[ -n $assets ]] || die "ENVTEST_ASSETS is not set; run 'make demo', which builds the control plane and sets it"
	local bin
	for bin in kube-apiserver etcd kubectl; do
		[[ -x $assets/$bin ]] || die "$assets/$bin is missing; run 'make envtest' (or 'make demo')"
	done

	local mode=fake api_url token account_ids tunnel_ids
	if [[ -n ${CLOUDFLARE_API_TOKEN:-} && -n ${CLOUDFLARE_ACCOUNT_ID:-} ]]; then
		mode=real
		[[ -n ${CLOUDFLARE_TUNNEL_ID:-} ]] ||
			die "CLOUDFLARE_TUNNEL_ID is not set: with the real API the samples need a tunnel of your account"
	fi

	if [[ -d $state_dir ]]; then
		echo "demo: a previous demo is in $state_dir; stopping it first"
		down
	fi
	mkdir -p "$state_dir/controlplane"
	echo "$mode" >"$state_dir/mode"

	step "building bin/manager, bin/fake-cloudflare-api and bin/demo-controlplane"
	CGO_ENABLED=0 go build -trimpath -o "$manager_bin" ./cmd
	go build -o "$fake_bin" ./hack/fake-cloudflare-api
	go build -o "$controlplane_bin" ./hack/controlplane

	step "starting the control plane (kube-apiserver + etcd)" "$state_dir/controlplane.log"
	KUBEBUILDER_ASSETS=$assets start_bg "control plane" "$current_log" "$state_dir/controlplane.pid" \
		"$controlplane_bin" --dir "$state_dir/controlplane" --kubeconfig "$kubeconfig"
	wait_for_line "$current_log" '^ready$' "$(<"$state_dir/controlplane.pid")" 120
	echo "demo:   $(grep -o 'kube-apiserver at [^,]*' "$current_log")" \
		"(its log: $state_dir/controlplane/kube-apiserver.log)"

	step "installing the CRDs (config/crd/bases)"
	kc apply --server-side -f config/crd/bases >/dev/null
	kc wait --for=condition=Established crd --all --timeout=60s >/dev/null

	if [[ $mode == real ]]; then
		api_url=${CLOUDFLARE_API_URL:-}
		token=$CLOUDFLARE_API_TOKEN
		echo "demo: CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID are set: using the REAL Cloudflare API;"
		echo "demo:   the samples' services are created in account $CLOUDFLARE_ACCOUNT_ID on tunnel $CLOUDFLARE_TUNNEL_ID"
		echo "demo:   and deleted again by 'make demo-down'"
	else
		account_ids=$(sample_values accountID)
		tunnel_ids=$(sample_values tunnelID)
		token="demo-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
		step "starting the fake Cloudflare API (account $account_ids)" "$state_dir/fake.log"
		FAKE_CLOUDFLARE_TOKEN=$token start_bg "fake Cloudflare API" "$current_log" "$state_dir/fake.pid" \
			"$fake_bin" --listen 127.0.0.1:0 --account "$account_ids" --tunnel "$tunnel_ids" --budget 1200
		wait_for_line "$current_log" '^fake Cloudflare API listening on ' "$(<"$state_dir/fake.pid")" 30
		api_url=$(grep -m1 -o 'http://[^ ]*' "$current_log")
		echo "demo:   $api_url"
	fi

	step "creating namespace $operator_ns and the Secrets $secret_name (in $operator_ns and $samples_ns)"
	kc create namespace "$operator_ns" --dry-run=client -o yaml | kc apply -f - >/dev/null
	local ns token_b64
	# The token goes through stdin only: never in a command line, never printed.
	token_b64=$(printf '%s' "$token" | base64 | tr -d '\n')
	for ns in "$operator_ns" "$samples_ns"; do
		printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\ntype: Opaque\ndata:\n  apiToken: %s\n' \
			"$secret_name" "$ns" "$token_b64" | kc apply -f - >/dev/null
	done
	unset token token_b64

	local probe_port
	probe_port=$(free_port) || die "no free port for the manager's health probes"
	step "starting the manager (bin/manager, health probes on 127.0.0.1:$probe_port)" "$state_dir/manager.log"
	local args=(--kubeconfig "$kubeconfig" --cluster-resource-namespace "$operator_ns"
		--metrics-bind-address 0 --health-probe-bind-address "127.0.0.1:$probe_port")
	[[ -z $api_url ]] || args+=(--cloudflare-api-url "$api_url")
	start_bg manager "$current_log" "$state_dir/manager.pid" "$manager_bin" "${args[@]}"
	local i pid
	pid=$(<"$state_dir/manager.pid")
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || die "the manager exited"
		if (exec 3<>"/dev/tcp/127.0.0.1/$probe_port") 2>/dev/null; then
			if ! command -v curl >/dev/null || curl -fsS "http://127.0.0.1:$probe_port/readyz" >/dev/null 2>&1; then
				break
			fi
		fi
		sleep 0.1
	done
	((i < 300)) || die "the manager did not become ready within 30s"

	step "applying the samples (config/samples) in namespace $samples_ns" "$state_dir/manager.log"
	if [[ $mode == real ]]; then
		local sed_args=()
		for id in $(sample_values accountID | tr , ' '); do sed_args+=(-e "s/$id/$CLOUDFLARE_ACCOUNT_ID/g"); done
		for id in $(sample_values tunnelID | tr , ' '); do sed_args+=(-e "s/$id/$CLOUDFLARE_TUNNEL_ID/g"); done
		kc kustomize config/samples | sed "${sed_args[@]}" | kc apply -n "$samples_ns" -f - | sed 's/^/    /'
	else
		kc apply -n "$samples_ns" -k config/samples | sed 's/^/    /'
	fi

	step "waiting for the accounts and the services to be Ready" "$state_dir/manager.log"
	if ! kc wait --for=condition=Ready cloudflareaccounts,clustercloudflareaccounts --all -A --timeout=60s >/dev/null ||
		! kc wait --for=condition=Ready connectivityservices --all -A --timeout=120s >/dev/null; then
		kc get cloudflare -A -o wide >&2 || true
		die "not everything became Ready (see the table above)"
	fi

	show_tunnel
	show_service_ref
	if [[ $mode == fake ]]; then
		play_connector "${api_url%/client/v4}"
	else
		echo "demo: with the real API the tunnel stays not Ready (ConnectorUnavailable): no connector pod runs here"
	fi

	echo
	kc get cloudflare -A
	echo
	if [[ $mode == fake ]]; then
		echo "demo: ready in $((SECONDS - started_at))s: every sample is Ready, services with their Cloudflare service id."
	else
		echo "demo: ready in $((SECONDS - started_at))s: every account and service is Ready with its Cloudflare id."
	fi
	echo "demo: use the cluster (kubectl is $kubectl_bin):"
	echo "    export KUBECONFIG=$kubeconfig"
	echo "    kubectl get cloudflare -A -o wide"
	if [[ $mode == fake ]]; then
		echo "demo: the fake Cloudflare API is $api_url; its state, e.g.:"
		echo "    curl -s '${api_url%/client/v4}/_fake/services?account=${account_ids%%,*}'"
		echo "    curl -s '${api_url%/client/v4}/_fake/counts'"
		echo "    curl -s '${api_url%/client/v4}/_fake/tunnels?account=${account_ids%%,*}'"
	fi
	local logs=manager,controlplane
	[[ $mode == real ]] || logs+=,fake
	echo "demo: logs: $state_dir/{$logs}.log and $state_dir/controlplane/*.log"
	echo "demo: stop it with: make demo-down"
}

case ${1:-up} in
up) up ;;
down) down ;;
*)
	echo "usage: $0 [up|down]" >&2
	exit 2
	;;
esac
