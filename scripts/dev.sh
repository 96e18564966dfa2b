#!/usr/bin/env bash
# One entry point for learners, teachers and CI:
#   scripts/dev.sh lab    -> set up (once) and open the course in JupyterLab
#   scripts/dev.sh test   -> set up (once), type-check wsdemo (mypy; wire strictly), run the whole test suite (pytest + nbval)
#   scripts/dev.sh setup  -> only set up
# It creates .venv, installs wsdemo with its test extras, and installs Debian's
# graphviz (and chromium and redis-server for the tests) when they are missing and it may.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${WSDEMO_VENV:-$ROOT/.venv}
cmd=${1:-help}; shift || true

say() { printf '\033[1mwsdemo:\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

find_python() {
  for p in ${PYTHON:-} python3.13 python3.12 python3.11 python3.10 python3; do
    if command -v "$p" >/dev/null 2>&1 &&
       "$p" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  return 1
}

can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = 0 ]; then SUDO=""; return 0; fi
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; return 0; fi
  return 1
}

apt_updated=""
apt_install() {  # apt_install PACKAGE... ; returns non-zero when it may not
  can_apt || return 1
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq >/dev/null && apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

need_system() {  # need_system PROGRAM DEBIAN_PACKAGE HOW_ELSE
  local prog=$1 pkg=$2 else_msg=$3
  command -v "$prog" >/dev/null 2>&1 && return 0
  say "$prog is missing; installing Debian's $pkg ..."
  if apt_install "$pkg" && command -v "$prog" >/dev/null 2>&1; then return 0; fi
  say "could not install $pkg here. $else_msg"
  return 1
}

setup_python() {
  local py
  py=$(find_python) || die "Python 3.10 or newer is needed (apt-get install python3 python3-venv, or conda)."
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating a virtual environment in ${VENV#$ROOT/} ..."
    "$py" -m venv "$VENV" 2>/dev/null ||
      { apt_install python3-venv && "$py" -m venv "$VENV"; } ||
      die "could not create a venv: install python3-venv (Debian/Ubuntu) or use environment.yml with conda."
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  local stamp="$VENV/.wsdemo-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing wsdemo and its test tools into ${VENV#$ROOT/} (first time takes a few minutes) ..."
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[test]" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
    "$VENV/bin/python" -c "import wsdemo, tornado, pytest, nbval, mypy" 2>/dev/null || die "pip install failed (see above)."
    touch "$stamp"
  fi
}

setup_system() {  # $1 = "lab" or "test"
  local missing=0
  need_system dot graphviz "Install graphviz: 'sudo apt-get install graphviz', 'brew install graphviz' or 'conda install -c conda-forge graphviz'. Diagrams show their DOT source until then." || missing=1
  if [ "$1" = test ]; then
    need_system chromium chromium "Install Chromium ('sudo apt-get install chromium'); browser tests skip without it." || missing=1
    # certutil puts the TLS lab's CA in a throwaway NSS database Chromium trusts (tests/live/test_tls.py)
    need_system certutil libnss3-tools "Install NSS's tools ('sudo apt-get install libnss3-tools'); the https browser test skips without them." || missing=1
    # The backplane tests start their own redis-server (never a system service).
    need_system redis-server redis-server "Install Redis ('sudo apt-get install redis-server', 'brew install redis' or 'conda install -c conda-forge redis-server'); backplane tests skip without it." || missing=1
  fi
  if [ "$missing" = 1 ] && [ "${CI:-}" = true ]; then
    die "CI needs graphviz, chromium, certutil and redis-server; see the messages above."
  fi
}

case "$cmd" in
  setup)
    setup_python; setup_system test ;;
  lab)
    setup_python; setup_system lab || true
    args=()
    [ "$(id -u)" = 0 ] && args+=(--allow-root)  # e.g. in a container; Jupyter refuses root otherwise
    # Trusted notebooks show their saved diagrams (SVG) and widgets before anything runs;
    # JupyterLab shows an untrusted notebook's SVG as text. Signing is redone each time,
    # since a notebook changed by git pull no longer matches its old signature.
    "$VENV/bin/jupyter" trust notebooks/*.ipynb >/dev/null ||
      say "could not trust the notebooks: diagrams show as text until you run them"
    cd "$ROOT/notebooks"
    say "opening the course: 00-start-here.ipynb (Ctrl-C stops JupyterLab)"
    exec "$VENV/bin/jupyter" lab "${args[@]}" 00-start-here.ipynb "$@" ;;
  test)
    setup_python; setup_system test
    export PATH="$VENV/bin:$PATH"
    # what to check and how strictly: [tool.mypy] in pyproject.toml
    say "type-checking wsdemo (mypy; the wire layer strictly) ..."
    "$VENV/bin/python" -m mypy || die "mypy found type errors (see above)."
    exec "$VENV/bin/python" -m pytest tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg \
      -p no:cacheprovider "$@" ;;
  *)
    echo "usage: scripts/dev.sh lab|test|setup" >&2; exit 2 ;;
esac
