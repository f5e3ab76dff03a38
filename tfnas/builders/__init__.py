"""Builders: Architecture → plain functional Keras model (the `Builder` contract and the DAG-cell conv builder)."""
