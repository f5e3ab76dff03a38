#!/usr/bin/env bash
# Idempotent install of the Debian EDA tools used by pipelines/eda (qflow flow: yosys -> graywolf -> qrouter).
# Re-running is cheap: nothing is fetched when every tool is already on PATH.
set -euo pipefail

need=()
for tool in qflow graywolf qrouter yosys tclsh tcsh; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
for tech in osu018 osu035 osu050; do
  [ -f "/usr/share/qflow/tech/$tech/${tech}_stdcells.lef" ] || need+=("qflow-tech-$tech")
done

if [ ${#need[@]} -eq 0 ]; then
  echo "EDA tools already installed: $(command -v qflow graywolf qrouter yosys | tr '\n' ' ')"
  exit 0
fi

echo "Installing EDA tools (missing: ${need[*]})"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to apt-get install" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# qflow depends on tcsh, tcl and the qflow-tech-osu* packages; list them explicitly so a partial install is fixed.
$SUDO apt-get install -y -qq qflow graywolf qrouter yosys tcsh tcl \
  qflow-tech-osu018 qflow-tech-osu035 qflow-tech-osu050 >/dev/null

for tool in qflow graywolf qrouter yosys; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool still not on PATH after install" >&2; exit 1; }
done
echo "EDA tools installed: $(command -v qflow graywolf qrouter yosys | tr '\n' ' ')"
