#!/usr/bin/env sh
# Put Nocturne in the desktop's application menu (for this user only; nothing needs root).
# Run it from the unpacked folder: ./install.sh   (remove with: ./install.sh --uninstall)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/nocturne.desktop" "$icons/nocturne.png"
  echo "Nocturne is no longer in the application menu (your data folder is untouched)."
  exit 0
fi
mkdir -p "$apps" "$icons"
cp "$here/nocturne.png" "$icons/nocturne.png"
sed "s|^Exec=.*|Exec=\"$here/nocturne\"|" "$here/nocturne.desktop" > "$apps/nocturne.desktop"
echo "Nocturne is in your application menu. From a terminal: $here/nocturne chat \"hello\""
