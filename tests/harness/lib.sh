# Shared settings of the test harness (sourced by hosts.sh, slurm.sh). Not executable on its own.
#
#   TY_HARNESS_PREFIX  name prefix of everything the harness makes (default tyh): namespaces
#                      <P>-br, <P>-ctl, <P>-h1..<P>-hN, root-side link <P>-gw. Lower-case letters and
#                      digits, at most 10 characters (interface names are limited to 15).
#   TY_HARNESS_STATE   state folder (default /tmp/<P>-harness): hosts file, slurm.conf, logs, spool.
#   TY_HARNESS_SUBNET  first three octets of the private /24 (default 10.77.0 for prefix tyh, else
#                      10.77.<hash of prefix>), so that harnesses with different prefixes can run at once.
#
# Addresses: <NET>.1 = the root namespace (link <P>-gw), <NET>.2 = <P>-ctl, <NET>.(10+i) = <P>-hi.
# The namespaces have no default route: their traffic can only reach each other and the root
# namespace's <NET>.1 address, never another network.

# shellcheck shell=bash disable=SC2034  # (variables used by the scripts that source this)
TYH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
P=${TY_HARNESS_PREFIX:-tyh}
if [[ ! $P =~ ^[a-z][a-z0-9]{0,9}$ ]]; then
  echo "harness: TY_HARNESS_PREFIX '$P' must be 1-10 lower-case letters/digits, starting with a letter" >&2
  exit 2
fi
STATE=${TY_HARNESS_STATE:-${TMPDIR:-/tmp}/$P-harness}
if [[ -n ${TY_HARNESS_SUBNET-} ]]; then
  NET=$TY_HARNESS_SUBNET
elif [[ $P == tyh ]]; then
  NET=10.77.0
else
  NET=10.77.$(($(printf %s "$P" | cksum | cut -d' ' -f1) % 250 + 1))
fi
export TY_HARNESS_PREFIX=$P TY_HARNESS_STATE=$STATE TY_HARNESS_SUBNET=$NET

log() { echo "harness[$P]: $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b - a}'; }
# waitfor SECONDS CMD... : retry CMD every 0.05 s until it succeeds or the deadline passes
waitfor() {
  local end; end=$(awk -v s="$1" -v n="$(now)" 'BEGIN{printf "%.3f", n + s}'); shift
  until "$@" >/dev/null 2>&1; do
    awk -v e="$end" -v n="$(now)" 'BEGIN{exit !(n >= e)}' && return 1
    sleep 0.05
  done
}
need_root() { [[ $(id -u) == 0 ]] || die "must run as root (network namespaces, mounts, daemons)"; }
need_cmd() { local c; for c; do command -v "$c" >/dev/null || die "missing command '$c' (see tests/harness/README.md for packages)"; done; }

# Our namespaces: exactly <P>-br, <P>-ctl and <P>-h<digits> (so prefix 'tyh' never matches 'tyh2-...').
our_netns() { ip netns list 2>/dev/null | awk -v p="$P" '{n=$1} n==p"-br"||n==p"-ctl"||n ~ "^"p"-h[0-9]+$" {print n}'; }
compute_hosts() { our_netns | grep -E "^$P-h[0-9]+$" | sort -V || true; }

# Processes that the harness started, wherever they are: in one of our namespaces, or carrying the
# TY_HARNESS_NSRUN=<our state folder> fingerprint that nsrun puts into every process it starts
# (catches processes in namespaces whose name was already deleted by a crashed teardown). Never
# lists this shell or its parents.
our_pids() {
  local ns
  {
    for ns in $(our_netns); do ip netns pids "$ns" 2>/dev/null || true; done
    grep -slzxF "TY_HARNESS_NSRUN=$STATE" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 || true
  } | sort -un | grep -vxF -f <(self_chain) || true
}
self_chain() {  # this shell and its ancestors
  local p=$BASHPID
  while [[ -n $p && $p != 0 ]]; do echo "$p"; p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null); done
  echo $$
}
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# kill_pids SECONDS PID... : SIGTERM, wait up to SECONDS, then SIGKILL what is left
kill_pids() {
  local grace=$1 p left end; shift
  (($#)) || return 0
  kill -TERM "$@" 2>/dev/null || true
  end=$(awk -v s="$grace" -v n="$(now)" 'BEGIN{printf "%.3f", n + s}')
  while :; do
    left=(); for p; do alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    awk -v e="$end" -v n="$(now)" 'BEGIN{exit !(n >= e)}' && break
    sleep 0.05
  done
  log "SIGKILL after ${grace}s: $(for p in "${left[@]}"; do printf '%s(%s) ' "$(cat "/proc/$p/comm" 2>/dev/null)" "$p"; done)"
  kill -KILL "${left[@]}" 2>/dev/null || true
  for p in "${left[@]}"; do waitfor 5 bash -c "! [[ -e /proc/$p ]] || grep -q '^State:.*Z' /proc/$p/status"; done
  return 0
}

# add_host NAME IP : namespace NAME with eth0=IP/24 plugged into the bridge in <P>-br (idempotent)
add_host() {
  local name=$1 ip=$2 port
  port=p${name##*-}                                   # bridge-side port name: p<h1|ctl>
  if ! ip netns list | awk '{print $1}' | grep -qxF "$name"; then
    ip netns add "$name"
  fi
  ip -n "$name" link set lo up
  if ! ip -n "$name" link show eth0 >/dev/null 2>&1; then
    ip -n "$P-br" link del "$port" 2>/dev/null || true
    ip -n "$P-br" link add "$port" type veth peer name eth0 netns "$name"
  fi
  ip -n "$P-br" link set "$port" master br0 up
  ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  ip -n "$name" addr replace "$ip/24" dev eth0
  ip -n "$name" link set eth0 up
}
