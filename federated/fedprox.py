"""Correct FedProx client update (TFF 0.87's build_weighted_fed_prox adds the proximal gradient with the wrong sign).

The proximal term follows the FLNet reference: mu * sum ||w - w_server||^2 (no 1/2), so its gradient is
2 * mu * (w - w_server), pulling each client's weights towards the server model.
"""
from __future__ import annotations


def proximal_penalty(weights, server_weights, mu: float):
    """mu * sum of squared distances between the client weights and the server weights they started from."""
    import tensorflow as tf

    return mu * tf.add_n([tf.reduce_sum(tf.square(w - s)) for w, s in zip(weights, server_weights)])


def proximal_step(optimizer, variables, server_weights, loss_fn, mu: float):
    """One client step on loss_fn() + proximal_penalty; returns the task loss (without the penalty)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
        total = loss + proximal_penalty(variables, server_weights, mu)
    grads = tape.gradient(total, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss
