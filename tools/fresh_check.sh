#!/bin/bash
# The README's promise, checked on a bare Debian 12: build a minimal root file system
# (debootstrap --variant=minbase bookworm, plus python3, git and make: nothing else), clone this
# repository's HEAD into it and run `make demo && make test` there, as root, in a chroot with
# /proc, /sys (and /sys/fs/bpf), /dev and a private /run, so network namespaces, veth pairs, BPF and
# DPDK work as on a real machine. Whatever the Makefile forgets to install fails here.
#
#   make fresh-check                        # or: bash tools/fresh_check.sh
#   KEEP=1 make fresh-check                 # keep the root afterwards (path printed)
#   FRESH_ROOT=/var/tmp/x FRESH_MIRROR=URL  # where to build, which Debian mirror
#
# The mirror defaults to the one this machine's apt uses, and the root gets this machine's Debian
# apt sources (so bookworm-updates/security match). pip inside sees what pip sees here: the PIP_*
# environment, /etc/pip.conf, /etc/xdg/pip and the local wheel directories and indexes they name
# (bind-mounted read-only at the same paths). The chroot runs in its own mount namespace, so every
# mount it makes (including `ip netns` bind mounts) disappears when it ends.
# Exit status: that of `make demo && make test` inside (0: the promise holds), 3: cannot run here.
set -euo pipefail

log() { printf '%s fresh-check: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 3; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts)"
REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
COMMIT=$(git -C "$REPO" rev-parse HEAD)
ROOT=${FRESH_ROOT:-/var/tmp/nicc-fresh-$$}
SUITE=bookworm
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 )) s"; }

if ! git -C "$REPO" diff --quiet HEAD 2>/dev/null; then
  log "note: uncommitted changes in $REPO are not part of the check (it clones HEAD $COMMIT)"
fi

# -- the mirror this machine's apt uses ------------------------------------------------------------
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v s="$SUITE" 'BEGIN { RS = "" } index($0, "Suites:") && index($0, s) && $0 !~ /security/ {
        for (i = 1; i <= NF; i++) if ($i == "URIs:") { print $(i + 1); exit } }' "$f"
  done | head -n1
  [ -f /etc/apt/sources.list ] && awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list
  true
}
MIRROR=${FRESH_MIRROR:-$(host_mirror | head -n1)}
[ -n "$MIRROR" ] || die "cannot find this machine's Debian mirror in /etc/apt (set FRESH_MIRROR)"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap"
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq debootstrap >/dev/null
fi

cleanup() {
  local rc=$?
  if [ "${KEEP:-0}" = 1 ]; then
    log "root kept: $ROOT"
  elif [ -d "$ROOT" ]; then
    # the mounts lived in the chroot's private mount namespace: nothing may be mounted here now
    if grep -q " $ROOT/" /proc/self/mounts; then
      log "mounts remain under $ROOT: not removing it"
    else
      rm -rf --one-file-system "$ROOT"
    fi
  fi
  exit $rc
}
trap cleanup EXIT

# -- 1. the bare system ------------------------------------------------------------------------------
[ ! -e "$ROOT" ] || die "$ROOT exists"
log "debootstrap --variant=minbase --include=python3,git,make $SUITE $ROOT"
debootstrap --variant=minbase --include=python3,git,make "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
  || { tail -n 30 "$ROOT.debootstrap.log" >&2; rm -f "$ROOT.debootstrap.log"; die "debootstrap failed"; }
rm -f "$ROOT.debootstrap.log"
log "bare root ready ($(du -sh --one-file-system "$ROOT" | cut -f1), $(elapsed))"

# this machine's Debian sources (suite, updates, security), its resolver, its pip configuration
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -q "debian" "$f" && cp "$f" "$ROOT/etc/apt/sources.list.d/" && : >"$ROOT/etc/apt/sources.list"
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
# certificate authorities this machine trusts beyond Debian's set (an HTTPS proxy's, say) are part of
# the machine, not of the project: the root trusts them too once `make` installs ca-certificates
mkdir -p "$ROOT/usr/local/share/ca-certificates"
python3 - "$ROOT/usr/local/share/ca-certificates" <<'PY'
import glob, re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
norm = lambda c: "".join(c.split())
debian = {norm(c) for f in glob.glob("/usr/share/ca-certificates/*/*.crt") for c in pem.findall(open(f).read())}
try:
    bundle = pem.findall(open("/etc/ssl/certs/ca-certificates.crt").read())
except OSError:
    bundle = []
for i, c in enumerate(c for c in bundle if norm(c) not in debian):
    open(f"{sys.argv[1]}/host-{i}.crt", "w").write(c + "\n")
PY
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$ROOT/etc/pip.conf"
[ -d /etc/xdg/pip ] && mkdir -p "$ROOT/etc/xdg" && cp -r /etc/xdg/pip "$ROOT/etc/xdg/"
# local package directories pip is told about (find-links, file:// indexes), by path
PIP_DIRS=$( { env | grep '^PIP_' | cut -d= -f2-; cat /etc/pip.conf /etc/xdg/pip/*.conf ~/.config/pip/pip.conf 2>/dev/null; } \
            | grep -oE '(file://)?/[^ "]+' | sed 's|^file://||' | while read -r p; do
                while [ -n "$p" ] && [ ! -d "$p" ]; do p=${p%/*}; done
                case "$p" in /opt/*|/srv/*|/var/cache/*) echo "$p" | cut -d/ -f1-3;; esac
              done | sort -u)

# -- 2. the project, as a user would get it ---------------------------------------------------------
git clone -q --no-hardlinks "$REPO" "$ROOT/root/nicc"
git -C "$ROOT/root/nicc" checkout -q --detach "$COMMIT"
log "cloned $COMMIT into $ROOT/root/nicc"

# -- 3. the README's two commands, inside ------------------------------------------------------------
ENVV=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
while IFS= read -r kv; do ENVV+=("$kv"); done < <(env | grep -E '^PIP_' || true)
export ROOT PIP_DIRS
mkdir -p "$REPO/build"
set +e
unshare --mount --propagation private -- bash -euc '
  mount --bind "$ROOT" "$ROOT"                        # / is a mount point, as on a machine (ip netns exec
                                                      # makes it a slave mount: "mount --make-rslave /")
  mount -t proc proc "$ROOT/proc"
  mount --rbind /sys "$ROOT/sys"                      # with /sys/fs/bpf
  mount --rbind /dev "$ROOT/dev"                      # /dev/net/tun, /dev/shm, /dev/pts
  mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"        # a private /run: ip netns bind mounts land here
  for d in $PIP_DIRS; do mkdir -p "$ROOT$d"; mount --bind -o ro "$d" "$ROOT$d"; done
  exec chroot "$ROOT" /usr/bin/env -i "$@" bash -c "cd /root/nicc && make demo && make test"
' fresh "${ENVV[@]}" 2>&1 | tee "$REPO/build/fresh-check.log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 0 ]; then
  log "PASS: make demo && make test succeeded on a bare Debian 12 ($(elapsed) in all)"
else
  log "FAIL: make demo && make test exited $rc on a bare Debian 12 ($(elapsed) in all)"
fi
exit "$rc"
