#!/usr/bin/env bash
# Installs what SwiftTIR needs on a fresh Debian machine. Idempotent; silent when all is present.
set -euo pipefail
need=()
dpkg -s libopenblas-dev  >/dev/null 2>&1 || need+=(libopenblas-dev)
dpkg -s liblapacke-dev   >/dev/null 2>&1 || need+=(liblapacke-dev)
dpkg -s pkg-config       >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s bubblewrap       >/dev/null 2>&1 || need+=(bubblewrap)
dpkg -s python3          >/dev/null 2>&1 || need+=(python3)       # the sandbox runs Debian's /usr/bin/python3
dpkg -s util-linux       >/dev/null 2>&1 || need+=(util-linux)    # setpriv: drop root before bwrap
dpkg -s libopenmpi-dev   >/dev/null 2>&1 || need+=(libopenmpi-dev) # data-parallel training over MPI
dpkg -s openmpi-bin      >/dev/null 2>&1 || need+=(openmpi-bin)    # mpirun
dpkg -s linux-libc-dev   >/dev/null 2>&1 || need+=(linux-libc-dev) # kernel headers: SeccompTests checks numbers
dpkg -s librsvg2-bin     >/dev/null 2>&1 || need+=(librsvg2-bin)  # rsvg-convert: PNG plots of tir experiment
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
