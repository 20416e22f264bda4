"""The container build files: hadolint clean, multi-stage, pinned bases, non-root, no model weights inside
(no Docker engine runs here, so the images themselves are not built in tests)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = sorted((ROOT / "charts" / "images").glob("*.Dockerfile"))
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


def test_there_is_a_serving_a_gpu_and_a_training_image():
    assert {p.name for p in IMAGES} == {"serving.Dockerfile", "serving-gpu.Dockerfile", "training.Dockerfile"}


@pytest.mark.parametrize("dockerfile", IMAGES, ids=lambda p: p.name)
def test_hadolint_is_clean(dockerfile):
    result = subprocess.run([HADOLINT, "--failure-threshold", "info", str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", IMAGES, ids=lambda p: p.name)
def test_structure(dockerfile):
    text = dockerfile.read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(bases) >= 2, "multi-stage: build tools stay out of the runtime image"
    for base in bases:
        assert re.search(r":[\w.-]+$", base) and not base.endswith(":latest"), f"unpinned base {base}"
    final = text[text.rindex("\nFROM ") :]
    (user,) = re.findall(r"^USER\s+(\S+)", final, re.MULTILINE)
    assert user.split(":")[0] not in {"0", "root"}
    assert "var/bundles" not in text and "var/kb" not in text and "COPY var" not in text  # weights come from storage
    assert re.search(r'^ENTRYPOINT \["teller"\]', final, re.MULTILINE)


def test_serving_images_listen_where_kserve_and_sagemaker_look():
    for name in ("serving.Dockerfile", "serving-gpu.Dockerfile"):
        text = (ROOT / "charts" / "images" / name).read_text()
        assert "EXPOSE 8080" in text and 'CMD ["serve"]' in text
        assert "TELLER_SERVE__BUNDLE=/mnt/models/bundle" in text and "TELLER_SERVE__WEB_DIST=/opt/teller-web" in text
    assert "onnxruntime-gpu" in (ROOT / "charts" / "images" / "serving-gpu.Dockerfile").read_text()


def test_build_context_leaves_out_local_state():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", "web/node_modules", "mlruns"} <= ignored
