#!/usr/bin/env bash
# Static security scan of this Terraform with checkov, at its default policies.
#   charts/terraform/scan.sh                      # scan charts/terraform
#   charts/terraform/scan.sh --compact -o json    # any checkov options; -d/-f pick another target
# checkov's own pins conflict with the project's stack, so it lives in a separate venv under var/tools/,
# installed once from checkov-requirements.txt (reinstalled when that file changes). PYTHON picks the interpreter.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
requirements="$here/checkov-requirements.txt"
version="$(sed -n 's/^checkov==//p' "$requirements")"
venv="${CHECKOV_VENV:-$root/var/tools/checkov-$version}"
python="${PYTHON:-python3}"
digest="$(sha256sum "$requirements" | cut -d' ' -f1)"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$digest" ]; then
    echo "installing checkov $version into $venv" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
    "$venv/bin/pip" check >&2
    echo "$digest" >"$venv/.installed"
fi
flock -u 9

target=(-d "$here")
for arg in "$@"; do
    case "$arg" in -d | --directory | -f | --file) target=() ;; esac
done
exec "$venv/bin/checkov" "${target[@]}" "$@"
