#!/bin/bash
# Fake hosts for multi-node tests on one machine: network namespaces made by the harness itself.
#
#   hosts.sh up N        hosts <P>-h1..<P>-hN (idempotent; removes hosts above N)
#   hosts.sh down        kill every process in/started into our namespaces, delete namespaces,
#                        links and the state folder (safe to repeat, also after a crash)
#   hosts.sh status      what exists now (exit 0 if up, 3 if nothing is up)
#   hosts.sh env         shell assignments describing the hosts (for `eval` or tests)
#   hosts.sh exec HOST CMD...   run CMD on HOST (same as ./nsrun)
#
# Layout (prefix P=tyh, NET=10.77.0 by default; see lib.sh for TY_HARNESS_* settings):
#   namespace <P>-br  : bridge br0 and one veth port per host (nothing is added to the root namespace
#                       except the link <P>-gw)
#   namespace <P>-hi  : eth0 = NET.(10+i)/24, lo up, hostname <P>-hi (set by nsrun), IPv6 off
#   root <P>-gw       : NET.1/24, so that launchers in the root namespace (mpirun, sbatch, the
#                       service under test) reach the hosts and the hosts reach back; no forwarding,
#                       no default route in the namespaces: traffic stays between our namespaces.
#                       TY_HARNESS_ROOT_LINK=0 leaves the root namespace untouched.
#   $STATE/etc/hosts, resolv.conf (no name server: lookups stay inside the namespace) are bind-mounted
#   over /etc/ by nsrun.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT_LINK=${TY_HARNESS_ROOT_LINK:-1}

write_etc() {
  local n=$1 i
  mkdir -p "$STATE/etc"
  {
    echo "127.0.0.1 localhost"
    echo "$NET.1 $P-gw"
    echo "$NET.2 $P-ctl"
    for i in $(seq 1 "$n"); do echo "$NET.$((10 + i)) $P-h$i"; done
  } >"$STATE/etc/hosts.new"
  mv "$STATE/etc/hosts.new" "$STATE/etc/hosts"
  printf '# harness: no name server, lookups of unknown names fail at once inside the namespace\noptions timeout:1 attempts:1\n' \
    >"$STATE/etc/resolv.conf"
}

write_env() {
  local n=$1 i names="" addrs=""
  for i in $(seq 1 "$n"); do names+="$P-h$i "; addrs+="$NET.$((10 + i)) "; done
  cat >"$STATE/netns-rsh" <<EOF
#!/bin/sh
# launch agent for this harness instance (mpirun --mca plm_rsh_agent $STATE/netns-rsh)
TY_HARNESS_PREFIX=$P TY_HARNESS_STATE=$STATE TY_HARNESS_SUBNET=$NET exec /bin/bash '$TYH_DIR/netns-rsh' "\$@"
EOF
  chmod +x "$STATE/netns-rsh"
  cat >"$STATE/harness.env" <<EOF
TY_HARNESS_PREFIX=$P
TY_HARNESS_STATE=$STATE
TY_HARNESS_SUBNET=$NET
TY_HARNESS_HOSTS="${names% }"
TY_HARNESS_ADDRS="${addrs% }"
TY_HARNESS_ROOT_ADDR=$([[ $ROOT_LINK == 1 ]] && echo "$NET.1")
TY_HARNESS_RSH_AGENT=$STATE/netns-rsh
TY_HARNESS_NSRUN=$TYH_DIR/nsrun
EOF
}

# is RST (connection refused) coming back from IP port 1? = the host is reachable
reachable_from_root() { local out; out=$(bash -c "exec 3<>/dev/tcp/$1/1" 2>&1); [[ $out == *refused* ]]; }

cmd_up() {
  local n=${1:-2} t0 i h pids
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "usage: hosts.sh up N (1..99)"
  need_root; need_cmd ip nsenter unshare
  t0=$(now)
  # refuse a subnet that the root namespace already uses for something else
  if ip -4 route show | awk -v n="$NET.0/24" -v l="$P-gw" '$1 == n && $0 !~ ("dev " l " ") {f=1} END {exit !f}'; then
    die "subnet $NET.0/24 is already routed in the root namespace; set TY_HARNESS_SUBNET"
  fi
  mkdir -p "$STATE"; touch "$STATE/.tyh-harness"
  write_etc "$n"
  if ! [[ -e /run/netns/$P-br ]]; then ip netns add "$P-br"; fi
  ip -n "$P-br" link set lo up
  if ! ip -n "$P-br" link show br0 >/dev/null 2>&1; then
    ip -n "$P-br" link add br0 type bridge forward_delay 0 stp_state 0
  fi
  ip -n "$P-br" link set br0 up
  if [[ $ROOT_LINK == 1 ]]; then
    if ! ip link show "$P-gw" >/dev/null 2>&1; then
      ip link add "$P-gw" type veth peer name pgw netns "$P-br"
    fi
    ip -n "$P-br" link set pgw master br0 up
    sysctl -qw "net.ipv6.conf.$P-gw.disable_ipv6=1" >/dev/null
    ip addr replace "$NET.1/24" dev "$P-gw"
    ip link set "$P-gw" up
  fi
  for i in $(seq 1 "$n"); do add_host "$P-h$i" "$NET.$((10 + i))"; done
  for h in $(compute_hosts); do                        # hosts above N from an earlier `up`
    i=${h##*-h}
    if ((i > n)); then
      mapfile -t pids < <(ip netns pids "$h")
      kill_pids 1 "${pids[@]}"
      ip netns del "$h"
    fi
  done
  write_env "$n"
  if [[ $ROOT_LINK == 1 ]]; then
    for i in $(seq 1 "$n"); do
      waitfor 10 reachable_from_root "$NET.$((10 + i))" || die "host $P-h$i ($NET.$((10 + i))) not reachable"
    done
  fi
  log "up: $n hosts ($P-h1..$P-h$n, $NET.11..) in $(since "$t0")s, state $STATE"
}

cmd_down() {
  local t0 pids ns
  need_root
  t0=$(now)
  if [[ -d $STATE/slurm ]]; then      # a cluster is up: stop it properly first (faster, cleaner)
    timeout 60 bash "$TYH_DIR/slurm.sh" down || log "slurm.sh down failed; killing what is left"
  fi
  mapfile -t pids < <(our_pids)
  kill_pids 1 "${pids[@]}"
  for ns in $(our_netns); do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "$P-gw" 2>/dev/null || true
  if [[ -d $STATE ]]; then
    if [[ -e $STATE/.tyh-harness ]]; then rm -rf "$STATE"; else log "not removing $STATE (no .tyh-harness marker)"; fi
  fi
  log "down in $(since "$t0")s (${#pids[@]} processes stopped)"
}

cmd_status() {
  local ns any=0 pids
  for ns in $(our_netns); do
    any=1
    echo "netns $ns: $(ip -n "$ns" -4 -o addr show 2>/dev/null | awk '$2 != "lo" {print $2, $4}' | tr '\n' ' ')"
    pids=$(ip netns pids "$ns" 2>/dev/null | paste -sd, -)
    if [[ -n $pids ]]; then ps -o pid=,comm= -p "$pids" 2>/dev/null | sed 's/^/    /' || true; fi
  done
  if ip link show "$P-gw" >/dev/null 2>&1; then any=1; echo "root link $P-gw: $(ip -4 -o addr show "$P-gw" | awk '{print $4}')"; fi
  [[ -d $STATE ]] && { any=1; echo "state $STATE"; }
  pids=$(our_pids | tr '\n' ' ')
  [[ -n $pids ]] && echo "harness processes: $pids"
  ((any)) || { echo "harness[$P]: nothing up"; return 3; }
}

case ${1-} in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) [[ -r $STATE/harness.env ]] || die "not up (no $STATE/harness.env)"; cat "$STATE/harness.env" ;;
  exec) shift; exec bash "$TYH_DIR/nsrun" "$@" ;;
  *) echo "usage: hosts.sh up N | down | status | env | exec HOST CMD..." >&2; exit 2 ;;
esac
