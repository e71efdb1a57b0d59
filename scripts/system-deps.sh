#!/usr/bin/env bash
# Debian packages the app and tests need beyond PyPI: Qt's runtime libraries, OpenBLAS for the
# MLX trainer on Linux, and Xvfb, xdotool and xwd to drive and photograph a real window.
# Installs only what is missing.
set -euo pipefail

[ "$(uname -s)" = "Linux" ] || exit 0
command -v dpkg-query >/dev/null 2>&1 || { echo "system-deps: not Debian; install Qt's libraries (libegl1, libxkbcommon0, libfontconfig1) and OpenBLAS yourself." >&2; exit 0; }

packages=(
  libopenblas0-pthread
  libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0
  libxcb-image0 libxcb-xinerama0 libxcb-xkb1
  xvfb xauth fonts-dejavu-core xdotool x11-apps
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "system-deps: please install: sudo apt-get install -y ${missing[*]}" >&2; exit 0
  fi
else
  SUDO=""
fi
echo "system-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
