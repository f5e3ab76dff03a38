"""FedProx client update against the closed form on a 1-D quadratic."""
import sys
from pathlib import Path

import pytest

# The editable install predates the federated/ package (its finder maps only packages present at install time).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.mark.federated
@pytest.mark.parametrize("mu", [0.0, 1.0, 5.0])
def test_proximal_steps_match_closed_form(mu):
    import tensorflow as tf

    from federated.fedprox import proximal_step

    a, c, w0, lr, steps = 2.0, 3.0, 1.0, 0.05, 10
    w = tf.Variable(w0, dtype=tf.float64)
    opt = tf.keras.optimizers.SGD(learning_rate=lr)
    for _ in range(steps):
        proximal_step(opt, [w], [tf.constant(w0, tf.float64)], lambda: 0.5 * a * tf.square(w - c), mu)
    # w_{k+1} = w_k - lr (a (w_k - c) + 2 mu (w_k - w0)): linear recurrence towards its fixed point.
    fixed = (a * c + 2 * mu * w0) / (a + 2 * mu)
    expected = fixed + (1 - lr * (a + 2 * mu)) ** steps * (w0 - fixed)
    assert float(w.numpy()) == pytest.approx(expected, rel=1e-6)  # the optimiser keeps its learning rate in float32
    if mu > 0:  # the proximal pull keeps the client closer to the server weight than plain SGD would
        plain = c + (1 - lr * a) ** steps * (w0 - c)
        assert abs(expected - w0) < abs(plain - w0)
