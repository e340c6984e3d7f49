#!/bin/bash
# install-test.sh — install asynccpu-glib, then build and run programs
# against the installed files only, with the environment a user sets for
# that prefix (docs/installing.md).
#
# Usage: install-test.sh prefix|deb|venv SOURCE_DIR
#
#   prefix  meson setup --prefix=<tmp> && meson install, then the consumers
#   deb     dpkg-buildpackage -b in a copy of the tree (git ls-files), the
#           .debs unpacked with dpkg -x into <tmp>/root (never installed
#           into this system), then the consumers against <tmp>/root/usr
#   venv    python3 -m venv --system-site-packages, pip install the tree
#           (pyproject.toml, meson-python) offline, then consumer.py in it
#           with no variable set
#
# The consumers (tests/install/consumers): C through pkg-config, a meson
# project through dependency('asynccpu-glib-1') in C and Vala, Vala through
# valac --pkg asynccpu-glib-1, Python (the overrides and asynccpu_glib) and
# GJS (gi://ACpu and asynccpu.js). Each runs in an empty environment plus the
# prefix's variables, from a temporary folder, and the Python and GJS ones
# check that the typelib, library and modules they loaded are the installed
# ones. Exit status 77 (skipped) when a tool the mode needs is missing.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

mode=$1
src=$(cd "$2" && pwd)
consumers=$src/tests/install/consumers
multiarch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/acpu-install-$mode.XXXXXX")
cleanup () {
  if [ -n "${ACPU_KEEP_INSTALL_TEST:-}" ]; then
    echo "kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

need () {
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null; then
      echo "skipped: $tool not found (tools/install-deps.sh all installs it)"
      exit 77
    fi
  done
}

step () {
  echo "== $mode: $* =="
}

# A user's environment for a prefix: nothing of the source or build tree.
# Usage: in_prefix PREFIX command...
in_prefix () {
  local p=$1; shift
  local libdir=$p/lib/$multiarch
  env -i HOME="$tmp" PATH=/usr/bin:/bin LANG=C.UTF-8 \
    PKG_CONFIG_PATH="$libdir/pkgconfig" \
    LD_LIBRARY_PATH="$libdir" \
    GI_TYPELIB_PATH="$libdir/girepository-1.0" \
    PYTHONPATH="$p/lib/python3/dist-packages" \
    XDG_DATA_DIRS="$p/share:/usr/local/share:/usr/share" \
    PYTHONDONTWRITEBYTECODE=1 \
    "$@"
}

# Usage: run_consumers PREFIX — builds and runs every consumer against it.
run_consumers () {
  local p=$1 work=$tmp/consumers
  local gjsdir out
  rm -rf "$work"
  mkdir -p "$work"
  cp "$consumers"/consumer.c "$consumers"/consumer.vala "$consumers"/consumer.py "$work"/
  cp -r "$consumers"/meson-project "$work"/
  cp "$consumers"/consumer.c "$consumers"/consumer.vala "$work"/meson-project/
  cd "$work"

  step "C through pkg-config"
  # shellcheck disable=SC2046
  in_prefix "$p" sh -c 'cc -o consumer-c consumer.c $(pkg-config --cflags --libs asynccpu-glib-1)'
  out=$(in_prefix "$p" ./consumer-c)
  echo "$out"
  [ "$out" = "c: 49 $(in_prefix "$p" pkg-config --modversion asynccpu-glib-1)" ]

  step "Vala through valac --pkg asynccpu-glib-1"
  in_prefix "$p" valac --pkg asynccpu-glib-1 --pkg gio-2.0 -o consumer-vala consumer.vala
  out=$(in_prefix "$p" ./consumer-vala)
  echo "$out"
  [ "$out" = "vala: 49" ]

  step "a meson project through dependency('asynccpu-glib-1'), C and Vala"
  in_prefix "$p" meson setup meson-project/_build meson-project >/dev/null
  in_prefix "$p" ninja -C meson-project/_build >/dev/null
  out=$(in_prefix "$p" meson-project/_build/consumer-c; in_prefix "$p" meson-project/_build/consumer-vala)
  echo "$out"
  [ "$out" = "c: 49 $(in_prefix "$p" pkg-config --modversion asynccpu-glib-1)
vala: 49" ]

  step "Python: the overrides and asynccpu_glib"
  out=$(in_prefix "$p" /usr/bin/python3 consumer.py --installed-under "$p")
  echo "$out"
  [ "$out" = "python: 49 120" ]

  step "GJS: gi://ACpu and asynccpu.js"
  gjsdir=$(in_prefix "$p" pkg-config --variable=gjsmoduledir asynccpu-glib-1)
  sed "s|@GJSMODULEDIR@|$gjsdir|" "$consumers"/consumer.js > consumer.js
  out=$(in_prefix "$p" gjs -m consumer.js "$p")
  echo "$out"
  [ "$out" = "gjs: 49" ]
  cd "$tmp"
}

# A copy of the source tree as git knows it (no build folders, no junk).
copy_tree () {
  local dest=$1
  mkdir -p "$dest"
  if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # The work tree as git sees it: tracked and new files, not ignored ones.
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
       xargs -0 cp --parents -t "$dest")
  else
    (cd "$src" && tar --exclude='./_build*' --exclude='./.git' -cf - .) | tar -xf - -C "$dest"
  fi
}

case "$mode" in
  prefix)
    need meson ninja pkg-config cc valac gjs
    step "meson setup --prefix=$tmp/prefix && meson install"
    meson setup "$tmp/build" "$src" --prefix="$tmp/prefix" \
      -Dintrospection=enabled -Dvapi=enabled -Ddocumentation=disabled \
      -Dtests=false -Dexamples=false -Dbenchmarks=false >/dev/null
    meson install -C "$tmp/build" --quiet >/dev/null
    run_consumers "$tmp/prefix"
    ;;

  deb)
    need dpkg-buildpackage dh dpkg-deb meson ninja pkg-config cc valac gjs
    step "dpkg-buildpackage -b -us -uc in a copy of the tree"
    copy_tree "$tmp/src/asynccpu-glib"
    (cd "$tmp/src/asynccpu-glib" &&
     DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
       dpkg-buildpackage -b -us -uc >"$tmp/dpkg-buildpackage.log" 2>&1) ||
      { tail -n 60 "$tmp/dpkg-buildpackage.log"; exit 1; }
    ls "$tmp/src"/*.deb
    # Lintian-clean where it can be: an upload that closes no ITP bug is the
    # one warning a package built outside Debian cannot mend. Informational
    # tags do not fail it (hardening-no-fortify-functions: the library's
    # memcpy() and read() calls have no size the compiler can check).
    if command -v lintian >/dev/null; then
      step "lintian"
      status=0
      lintian --fail-on error,warning --suppress-tags initial-upload-closes-no-bugs \
        "$tmp/src"/*.changes >"$tmp/lintian.log" 2>&1 || status=$?
      grep -v "^running with root privileges" "$tmp/lintian.log" || true
      [ "$status" = 0 ] || { echo "lintian: errors or warnings (above)"; exit 1; }
    else
      echo "lintian is not installed: the packages are not checked with it"
    fi
    # The sandbox's seccomp filter is built only with libseccomp, which the
    # build finds optionally: the library package must link it.
    dpkg-deb -f "$(ls "$tmp/src"/libasynccpu-glib-1-0_*.deb)" Depends | grep -q libseccomp2 ||
      { echo "libasynccpu-glib-1-0 was built without libseccomp (Build-Depends)"; exit 1; }
    for package in libasynccpu-glib-1-0 libasynccpu-glib-1-dev gir1.2-acpu-1.0 \
                   python3-asynccpu-glib gjs-asynccpu-glib; do
      deb=$(ls "$tmp/src/${package}"_*.deb)
      dpkg-deb -x "$deb" "$tmp/root"
    done
    # The .pc says prefix=/usr: where dpkg -x put it, the relocated prefix
    # (what the packages give once installed in /usr).
    sed -i "s|^prefix=/usr\$|prefix=$tmp/root/usr|" \
      "$tmp/root/usr/lib/$multiarch/pkgconfig/asynccpu-glib-1.pc"
    run_consumers "$tmp/root/usr"
    ;;

  venv)
    need /usr/bin/python3
    /usr/bin/python3 -c 'import mesonpy, venv' 2>/dev/null ||
      { echo "skipped: python3-mesonpy or python3-venv missing"; exit 77; }
    step "python3 -m venv --system-site-packages && pip install ."
    copy_tree "$tmp/src"
    /usr/bin/python3 -m venv --system-site-packages "$tmp/venv"
    env -i HOME="$tmp" PATH="$tmp/venv/bin:/usr/bin:/bin" LANG=C.UTF-8 \
      PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
      "$tmp/venv/bin/pip" install --no-build-isolation --quiet "$tmp/src"
    cd "$tmp"
    cp "$consumers"/consumer.py .
    step "consumer.py in the venv, no variable set"
    out=$(env -i HOME="$tmp" PATH=/usr/bin:/bin LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 \
            "$tmp/venv/bin/python" consumer.py --installed-under "$tmp/venv")
    echo "$out"
    [ "$out" = "python: 49 120" ]
    ;;

  *)
    echo "usage: $0 prefix|deb|venv SOURCE_DIR" >&2
    exit 2
    ;;
esac
echo "== $mode: all consumers passed =="
