"""What other libraries print is kept from the user's console unless asked for (``openl3._util.console``)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from openl3._util.console import captured_output

#: Lines TensorFlow's native log prints when it is imported and looks for a GPU.
TF_IMPORT_NOISE = ("cpu_feature_guard", "cuInit", "cuda", "oneDNN")

FIRST_TENSORFLOW_USE = (
    "import openl3, keras, tensorflow as tf; tf.config.list_physical_devices('GPU'); "
    "keras.ops.convert_to_tensor([1.0]); print('done')"
)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**environment, **env}, timeout=300
    )


def test_tensorflow_imported_after_openl3_prints_nothing():
    result = _python(FIRST_TENSORFLOW_USE)
    assert result.returncode == 0 and result.stdout == "done\n"
    assert not [word for word in TF_IMPORT_NOISE if word in result.stderr], result.stderr


def test_the_user_s_tensorflow_log_level_wins():
    result = _python(
        FIRST_TENSORFLOW_USE + "; import os; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    assert result.returncode == 0 and result.stdout == "done\n0\n"
    assert "cpu_feature_guard" in result.stderr  # asked for: shown


def test_captured_output_takes_python_and_native_writes_and_logs_them(capfd, caplog):
    with caplog.at_level(logging.DEBUG, logger="openl3"), captured_output("a converter"):
        sys.stdout.write("from Python\n")
        sys.stderr.write("to stderr\n")
        os.write(1, b"I0000 from native code\n")
        os.write(2, b"W0000 from native code\n")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    [record] = caplog.records
    assert record.levelno == logging.DEBUG and record.getMessage().startswith("Printed by a converter:")
    for line in ("from Python", "to stderr", "I0000 from native code", "W0000 from native code"):
        assert line in record.getMessage()
    sys.stdout.write("after\n")  # the streams are back
    os.write(2, b"native after\n")
    assert capfd.readouterr() == ("after\n", "native after\n")


def test_the_first_import_of_a_noisy_module_is_quiet_and_its_own(tmp_path, monkeypatch, capfd, caplog):
    """TensorFlow 2.21 prints while it is imported whatever TF_CPP_MIN_LOG_LEVEL says."""
    import importlib.util

    from openl3._util.console import QuietFirstImport

    package = tmp_path / "noisy_package"
    package.mkdir()
    (package / "__init__.py").write_text("import os\nos.write(2, b'I0000 oneDNN notice\\n')\nVALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hook = QuietFirstImport("noisy_package")
    monkeypatch.setattr(sys, "meta_path", [hook, *sys.meta_path])
    assert importlib.util.find_spec("noisy_package") is not None and hook in sys.meta_path  # a look
    with caplog.at_level(logging.DEBUG, logger="openl3"):
        import noisy_package
    assert noisy_package.VALUE == 3 and hook not in sys.meta_path
    assert capfd.readouterr() == ("", "")
    assert "I0000 oneDNN notice" in caplog.text and "the import of noisy_package" in caplog.text
    assert type(noisy_package.__loader__).__module__.startswith("_frozen_importlib")
    monkeypatch.delitem(sys.modules, "noisy_package")
