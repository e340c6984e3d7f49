#!/bin/sh
# Installs what building and testing asynccpu-glib needs on Debian 12, when it
# is missing. Usage: tools/install-deps.sh [quickstart|all]
set -eu

quickstart="gcc libc6-dev meson ninja-build pkg-config libglib2.0-dev"
all="$quickstart gobject-introspection libgirepository1.0-dev python3 python3-gi
     python3-pytest gir1.2-glib-2.0 gjs valac gi-docgen clang libclang-rt-14-dev
     valgrind procps bubblewrap libseccomp-dev openssh-server openssh-client slurm-wlm munge
     dpkg-dev debhelper dh-python python3-mesonpy patchelf python3-venv lintian
     libgtk-4-dev xvfb xauth"

case "${1:-all}" in
  quickstart) pkgs=$quickstart ;;
  all) pkgs=$all ;;
  *) echo "usage: $0 [quickstart|all]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages:$missing — run as root, or install them first." >&2
  exit 1
fi
echo "Installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
