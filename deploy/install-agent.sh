#!/bin/sh
# Installs (or removes) the onionfleet agent on a device. POSIX sh; run as root for the real root.
#
#   install-agent.sh install --bundle FILE [--unit FILE] [--node PATH] [--root DIR]
#   install-agent.sh uninstall [--root DIR]
#
# install puts the single-file agent (`npm run build:agent`) in /usr/local/lib/onionfleet, a
# /usr/local/bin/onionfleet-agent wrapper that runs it with node, the systemd units
# (onionfleet-agent.service, default: the one beside this script; onionfleet-apply.socket and
# onionfleet-apply@.service, beside that unit; onionfleet-hold.service too, which it enables: the boot
# hold, docs/continuity.md), the directories /etc/onionfleet (0750),
# /var/lib/onionfleet and /var/log/onionfleet, and the system user `onionfleet`; then it reloads
# systemd. The agent runs as `onionfleet`; what needs root it asks of the applier (see the units). It neither enables nor starts the agent (`onionfleet device add --ssh` does, once
# the agent config is written). Running it again refreshes the files and changes nothing else.
#
# uninstall removes exactly what install created, listed in /usr/local/lib/onionfleet/install.manifest:
# the files it wrote, the directories it made (its own ones with their content — the agent's keys,
# config, state and logs —, parents only when empty), the user when it made it. It stops the agent
# first. Without a manifest it does nothing. It is the rollback of a failed enrollment.
#
# --root DIR (not /) places everything below DIR for tests and the demo: no user is created, systemctl
# is never called, and a sandboxed agent started by `device add --ssh` (pid in
# DIR/var/lib/onionfleet/agent.pid) is stopped by uninstall.
#
# Exit 0 ok, 1 failed, 2 usage.
set -eu

usage() {
  echo "usage: $0 install --bundle FILE [--unit FILE] [--node PATH] [--root DIR] | $0 uninstall [--root DIR]" >&2
  exit 2
}
fail() {
  echo "install-agent.sh: $*" >&2
  exit 1
}

[ $# -ge 1 ] || usage
action=$1
shift
root=/
bundle=
unit=$(dirname -- "$0")/onionfleet-agent.service
node=
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case $1 in
    --root) root=$2 ;;
    --bundle) bundle=$2 ;;
    --unit) unit=$2 ;;
    --node) node=$2 ;;
    *) usage ;;
  esac
  shift 2
done
case $root in
  /*) ;;
  *) echo "install-agent.sh: --root must be an absolute path" >&2; exit 2 ;;
esac

# R is the prefix of every path: empty for the real root.
R=${root%/}
LIB=$R/usr/local/lib/onionfleet
BIN=$R/usr/local/bin/onionfleet-agent
UNIT=$R/etc/systemd/system/onionfleet-agent.service
APPLY_SOCKET=$R/etc/systemd/system/onionfleet-apply.socket
APPLY_UNIT=$R/etc/systemd/system/onionfleet-apply@.service
HOLD_UNIT=$R/etc/systemd/system/onionfleet-hold.service
# Enabled the way `systemctl enable` does it (WantedBy=multi-user.target), here also below --root.
HOLD_LINK=$R/etc/systemd/system/multi-user.target.wants/onionfleet-hold.service
ETC=$R/etc/onionfleet
VARLIB=$R/var/lib/onionfleet
LOG=$R/var/log/onionfleet
MANIFEST=$LIB/install.manifest
PIDFILE=$VARLIB/agent.pid
USER_NAME=onionfleet

# The manifest lives in LIB; what is made before LIB exists waits in $pending.
pending=
record() {
  line="$1 $2"
  if [ -d "$LIB" ]; then
    if [ ! -f "$MANIFEST" ] || ! grep -qxF -- "$line" "$MANIFEST"; then
      printf '%s\n' "$line" >>"$MANIFEST"
    fi
  else
    pending="$pending$line
"
  fi
}

# mkd DIR MODE KIND: makes DIR and its missing parents; records each one it made. KIND is `tree`
# (ours: removed with its content) for DIR, `dir` (removed only when empty) for its parents.
mkd() {
  if [ ! -d "$1" ]; then
    parent=$(dirname -- "$1")
    [ -d "$parent" ] || mkd "$parent" 0755 dir
    record "$3" "$1"
    mkdir -m "$2" -- "$1"
  fi
}

# put SRC DEST MODE: replaces DEST atomically (a temp file beside it, then rename).
put() {
  record file "$2"
  cp -- "$1" "$2.new"
  chmod "$3" "$2.new"
  mv -f -- "$2.new" "$2"
}

# Quotes one word for a shell script (the wrapper).
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

systemd_running() {
  [ -z "$R" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

install_agent() {
  [ -n "$bundle" ] || usage
  [ -f "$bundle" ] || fail "no agent bundle at $bundle (npm run build:agent makes deploy/dist/onionfleet-agent.mjs)"
  [ -f "$unit" ] || fail "no systemd unit at $unit"
  units=$(dirname -- "$unit")
  for u in onionfleet-apply.socket onionfleet-apply@.service onionfleet-hold.service; do
    [ -f "$units/$u" ] || fail "no systemd unit at $units/$u (it goes beside $unit)"
  done
  if [ -z "$node" ]; then node=$(command -v node || true); fi
  [ -n "$node" ] && [ -x "$node" ] || fail "node not found: install Node.js 20 or later"

  mkd "$LIB" 0755 tree
  if [ -n "$pending" ]; then
    printf '%s' "$pending" >>"$MANIFEST"
    pending=
  fi

  # A system user and group without a login: the agent runs as it (see the unit); the group may read
  # the agent's logs and what the applier publishes for its status (add an operator to it).
  if [ -z "$R" ] && ! id -u "$USER_NAME" >/dev/null 2>&1; then
    record user "$USER_NAME"
    useradd --system --user-group --no-create-home --home-dir /var/lib/onionfleet --shell /usr/sbin/nologin "$USER_NAME"
  fi

  mkd "$ETC" 0750 tree
  mkd "$VARLIB" 0750 tree
  mkd "$LOG" 0750 tree
  mkd "$(dirname -- "$BIN")" 0755 dir
  mkd "$(dirname -- "$UNIT")" 0755 dir
  if [ -z "$R" ]; then
    chgrp "$USER_NAME" "$ETC" "$LOG" "$VARLIB"
    chmod 0750 "$ETC" "$LOG" "$VARLIB"
  fi

  put "$bundle" "$LIB/onionfleet-agent.mjs" 0644
  put "$0" "$LIB/install-agent.sh" 0755
  wrapper=$(mktemp)
  # $ONIONFLEET_NODE_FLAGS: node's own flags, from the agent's unit (its memory settings on a Pi);
  # unquoted on purpose, one word per flag. Empty for the applier and the admin's commands.
  printf '#!/bin/sh\n# The onionfleet agent (installed by install-agent.sh).\n# shellcheck disable=SC2086\nexec %s ${ONIONFLEET_NODE_FLAGS-} %s "$@"\n' "$(quote "$node")" "$(quote "$LIB/onionfleet-agent.mjs")" >"$wrapper"
  put "$wrapper" "$BIN" 0755
  rm -f -- "$wrapper"
  put "$unit" "$UNIT" 0644
  put "$units/onionfleet-apply.socket" "$APPLY_SOCKET" 0644
  put "$units/onionfleet-apply@.service" "$APPLY_UNIT" 0644
  put "$units/onionfleet-hold.service" "$HOLD_UNIT" 0644
  mkd "$(dirname -- "$HOLD_LINK")" 0755 dir
  record file "$HOLD_LINK"
  ln -sfn /etc/systemd/system/onionfleet-hold.service "$HOLD_LINK"

  if systemd_running; then systemctl daemon-reload; fi
  echo "installed the onionfleet agent below $root"
}

# True when PATH is one install makes, or (for `dir`) a parent of one: a manifest never makes
# uninstall touch anything else.
ours() {
  case $2 in
    "$LIB" | "$LIB"/* | "$BIN" | "$UNIT" | "$APPLY_SOCKET" | "$APPLY_UNIT" | "$HOLD_UNIT" | "$HOLD_LINK" | "$ETC" | "$VARLIB" | "$LOG") return 0 ;;
  esac
  [ "$1" = dir ] || return 1
  for known in "$LIB" "$BIN" "$UNIT" "$APPLY_SOCKET" "$APPLY_UNIT" "$HOLD_UNIT" "$HOLD_LINK" "$ETC" "$VARLIB" "$LOG"; do
    case $known in "$2"/*) return 0 ;; esac
  done
  return 1
}

# Stops the sandboxed agent whose pid `device add --ssh` recorded, when that pid still runs it.
stop_sandboxed() {
  [ -f "$PIDFILE" ] || return 0
  pid=$(cat "$PIDFILE")
  case $pid in '' | *[!0-9]*) return 0 ;; esac
  grep -q onionfleet-agent "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in 1 2 3 4 5 6 7 8 9 10; do
    grep -q onionfleet-agent "/proc/$pid/cmdline" 2>/dev/null || return 0
    sleep 1
  done
  kill -9 "$pid" 2>/dev/null || true
}

uninstall_agent() {
  if [ ! -f "$MANIFEST" ]; then
    echo "nothing to uninstall below $root (no $MANIFEST)"
    return 0
  fi
  if systemd_running && grep -qxF "file $UNIT" "$MANIFEST"; then
    systemctl disable --now onionfleet-agent.service >/dev/null 2>&1 || true
    systemctl stop onionfleet-apply.socket >/dev/null 2>&1 || true
    rm -f /run/lock/onionfleet-apply.lock
  fi
  [ -n "$R" ] && stop_sandboxed
  # Newest first; read whole before LIB (which holds the manifest) goes.
  entries=$(sed '1!G;h;$!d' "$MANIFEST")
  printf '%s\n' "$entries" | while read -r kind path; do
    [ -n "$kind" ] || continue
    if [ "$kind" = user ]; then
      [ -z "$R" ] && [ "$path" = "$USER_NAME" ] && id -u "$USER_NAME" >/dev/null 2>&1 && userdel "$USER_NAME"
      continue
    fi
    ours "$kind" "$path" || fail "refusing to remove $path (not a path install makes)"
    case $kind in
      file) rm -f -- "$path" "$path.new" ;;
      tree) rm -rf -- "$path" ;;
      dir) rmdir -- "$path" 2>/dev/null || true ;;
      *) fail "unknown manifest entry: $kind $path" ;;
    esac
  done
  if systemd_running; then systemctl daemon-reload; fi
  echo "removed the onionfleet agent below $root"
}

case $action in
  install) install_agent ;;
  uninstall) uninstall_agent ;;
  *) usage ;;
esac
