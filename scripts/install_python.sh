#!/usr/bin/env bash
# Puts the trainyard Python SDK (`import trainyard`) and the azureml compatibility package
# (`import azureml.core`) on the path of Debian's interpreter, /usr/bin/python3, by writing one
# file, trainyard.pth, that names two folders of the build:
#   <build>/python                   the trainyard package (and its extensions _core, _sdk)
#   <build>/python-compat/azureml    the azureml compatibility package
# Python reads .pth files of its site folders at start-up and appends the folders they name to
# sys.path, after the site folders themselves: a real `azureml` installed with pip still wins.
#
# Not the Horovod stand-in (<build>/python-compat/horovod): it works only inside a trainyard run
# (trainyard puts it on each run's PYTHONPATH when the run's interpreter has no real Horovod), and
# on the global path it would make `import horovod` succeed in every program on the machine, so
# libraries that switch Horovod code on when it is importable (PyTorch Lightning, Ray) would take
# it outside any run, and trainyard's own interpreter probe could no longer tell a real Horovod.
#
# Where: as root, the interpreter's first site folder (/usr/local/lib/python3.X/dist-packages,
# the local administrator's, where pip installs); otherwise the user's site folder
# (~/.local/lib/python3.X/site-packages). Run again after moving the build; it is idempotent.
#
# Usage: scripts/install_python.sh [--user | --site-dir DIR] [--remove] [BUILD_DIR]
#   BUILD_DIR   default: build (relative to the repository)
#   --user      the user's site folder even as root
#   --site-dir  that folder instead (it must be one Python reads .pth files from)
#   --remove    remove trainyard.pth from the chosen folder
# Exit status: 0 done (or nothing to do: a build without the Python SDK is said and skipped),
# 1 on errors.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${TRAINYARD_PYTHON:-/usr/bin/python3}
mode=auto site_dir="" remove=0 build=build
while (($#)); do
  case "$1" in
    --user) mode=user ;;
    --site-dir)
      [[ $# -ge 2 ]] || { echo "install_python: --site-dir needs a folder" >&2; exit 1; }
      mode=dir site_dir=$2
      shift
      ;;
    --remove) remove=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "install_python: unknown option $1" >&2; exit 1 ;;
    *) build=$1 ;;
  esac
  shift
done

if [[ $mode == auto ]]; then
  if [[ $(id -u) -eq 0 ]]; then mode=system; else mode=user; fi
fi
case "$mode" in
  system) site_dir=$("$PYTHON" -c 'import site; print(site.getsitepackages()[0])') ;;
  user)
    if [[ $("$PYTHON" -c 'import site; print(site.ENABLE_USER_SITE)') != True ]]; then
      echo "install_python: $PYTHON has the user site folder switched off" \
           "(PYTHONNOUSERSITE, or run as another user); use --site-dir" >&2
      exit 1
    fi
    site_dir=$("$PYTHON" -c 'import site; print(site.getusersitepackages())')
    ;;
esac
pth="$site_dir/trainyard.pth"

if ((remove)); then
  if [[ -e $pth ]]; then
    rm -f "$pth"
    echo "install_python: removed $pth"
  else
    echo "install_python: no $pth"
  fi
  exit 0
fi

build=$(cd "$build" 2>/dev/null && pwd) || { echo "install_python: no build folder $build" >&2; exit 1; }
sdk="$build/python"
compat="$build/python-compat/azureml"
# The SDK is there when the build made its extensions (a build without python3-dev or pybind11
# skips them, and says so at configure time).
if ! compgen -G "$sdk/trainyard/_core*.so" >/dev/null || ! compgen -G "$sdk/trainyard/_sdk*.so" >/dev/null ||
   [[ ! -d $compat/azureml ]]; then
  echo "install_python: $build has no Python SDK (build the trainyard_core and trainyard_sdk" \
       "targets); nothing installed"
  exit 0
fi

content="# trainyard's Python SDK and azureml compatibility package (scripts/install_python.sh)
$sdk
$compat
"
if [[ -f $pth && "$(cat "$pth")"$'\n' == "$content" ]]; then
  echo "install_python: $pth already names $build"
else
  [[ -f $pth ]] && echo "install_python: replacing $pth (it named: $(grep -v '^#' "$pth" | tr '\n' ' '))"
  mkdir -p "$site_dir"
  tmp=$(mktemp "$site_dir/.trainyard.pth.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$pth"
  echo "install_python: wrote $pth (trainyard and azureml for $PYTHON, from $build)"
fi
# The check a user would make, from / so that no folder of the repository is on the path.
if [[ $mode != dir ]]; then
  (cd / && env -u PYTHONPATH "$PYTHON" -c 'import trainyard, azureml.core') || {
    echo "install_python: $PYTHON still cannot import trainyard and azureml.core" >&2
    exit 1
  }
fi
