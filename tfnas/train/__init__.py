"""The core training path: optimizers (one `make_optimizer`, the reference Adagrad)."""
