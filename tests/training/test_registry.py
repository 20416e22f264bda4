"""MLflow registration and the champion/challenger gate on a real SQLite store."""

import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from teller.bundle import CHAMPION, load_bundle, resolve_bundle
from teller.io import write_json
from training.registry import CHALLENGER, client, log_and_register, promote

pytestmark = pytest.mark.slow


def _sabotaged_copy(bundle_dir, target):
    """A copy of the bundle whose heads always predict class 0: a clearly worse challenger."""
    shutil.copytree(bundle_dir, target)
    for file in target.glob("*.onnx"):  # every variant, whichever the bundle serves
        model = onnx.load(str(file))
        heads = [i for i in model.graph.initializer if i.name.startswith("heads.") and i.name.endswith(".bias")]
        assert len(heads) == 4, file  # Gemm biases, or the Add after an int8 MatMul
        for init in heads:
            bias = numpy_helper.to_array(init).copy()
            bias[0] += 100.0
            init.CopyFrom(numpy_helper.from_array(bias.astype(np.float32), init.name))
        onnx.save(model, str(file))
    info = load_bundle(target).info.model_copy(update={"version": target.name})
    write_json(target / "bundle.json", info.model_dump())
    return load_bundle(target)


def _register(bundle, data_dir):
    split_dir = next((data_dir / "corpus").glob("*"))
    report_dir = next((data_dir / "reports").glob("*"))
    return log_and_register(bundle, {"profile": "test"}, {}, {}, report_dir, split_dir, [])


def test_registration_then_gate(tiny_bundle):
    data_dir = tiny_bundle["data_dir"]
    c, name = client(), "teller-triage"
    good = tiny_bundle["registered_version"]
    assert str(c.get_model_version_by_alias(name, CHALLENGER).version) == good

    first = promote()
    assert first.promoted and "no champion yet" in first.reason
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == good
    assert resolve_bundle().info.version == tiny_bundle["version"]

    worse = _register(_sabotaged_copy(tiny_bundle["bundle"], data_dir / "bundles" / "99990101.000000"), data_dir)
    decision = promote(margin=0.0)
    assert not decision.promoted and "champion kept" in decision.reason
    assert decision.scores["challenger"] < decision.scores["champion"]
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == good

    # A better challenger wins: make the sabotaged version champion, then re-register the good bundle.
    c.set_registered_model_alias(name, CHAMPION, worse)
    better = _register(load_bundle(tiny_bundle["bundle"]), data_dir)
    decision = promote(margin=0.01)
    assert decision.promoted and "challenger wins" in decision.reason
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == better

    again = promote()
    assert not again.promoted and "already champion" in again.reason


def test_registered_bundle_downloads_when_not_local(tiny_bundle, tmp_path):
    from teller.bundle import registered_bundle

    c = client()
    version = c.get_model_version("teller-triage", tiny_bundle["registered_version"])
    version.tags["bundle_version"] = "not-here"
    bundle = registered_bundle(version)
    assert bundle.info.version == tiny_bundle["version"] and bundle.path != load_bundle(tiny_bundle["bundle"]).path
