#!/usr/bin/env bash
# `make bundle`: a self-contained Nocturne for this platform, from the project's venv.
#   Linux:   dist/Nocturne-linux-<arch>.tar.gz (unpack, run ./nocturne/nocturne or ./nocturne/install.sh)
#   macOS:   dist/Nocturne-macos-<arch>.dmg holding Nocturne.app
#   Windows: dist/Nocturne-windows-<arch>.zip holding the nocturne folder
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
arch=$(uname -m)

"$PY" packaging/make_icon.py build/nocturne-icon.png
"$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/nocturne.spec

case "$(uname -s)" in
  Linux)
    cp packaging/nocturne.desktop packaging/install.sh dist/nocturne/
    cp build/nocturne-icon.png dist/nocturne/nocturne.png
    tar -C dist -czf "dist/Nocturne-linux-$arch.tar.gz" nocturne
    echo "bundle: dist/Nocturne-linux-$arch.tar.gz ($(du -sh dist/nocturne | cut -f1) unpacked)"
    ;;
  Darwin)
    rm -f "dist/Nocturne-macos-$arch.dmg"
    hdiutil create -volname Nocturne -srcfolder dist/Nocturne.app -ov -format UDZO \
      "dist/Nocturne-macos-$arch.dmg"
    echo "bundle: dist/Nocturne-macos-$arch.dmg"
    ;;
  MINGW*|MSYS*|CYGWIN*)
    (cd dist && powershell -NoProfile -Command \
      "Compress-Archive -Force -Path nocturne -DestinationPath Nocturne-windows-$arch.zip")
    echo "bundle: dist/Nocturne-windows-$arch.zip"
    ;;
esac
