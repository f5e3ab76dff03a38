"""The CLI hides TensorFlow's start-up noise unless --verbose (issue 15/12: CUDA factory lines on a CPU machine)."""
import os
import subprocess
import sys

CODE = ("from tfnas.cli import quiet_tensorflow; quiet_tensorflow({v}); "
        "import tensorflow as tf; tf.constant(1.0); print('ok')")


def _stderr(verbose: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", CODE.format(v=verbose)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    return out.stderr


def test_tensorflow_startup_lines_hidden_by_default():
    err = _stderr(False)
    for noise in ("Unable to register", "oneDNN custom operations", "cpu_feature_guard", "TF-TRT Warning"):
        assert noise not in err, err



def test_importing_tfnas_turns_onednn_off_unless_the_user_chose():
    """oneDNN's conv-gradient kernels segfault on AVX-512 CPUs under TF 2.14; tfnas picks Eigen by default."""
    code = "import os, tfnas; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "0"
    env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "1"
