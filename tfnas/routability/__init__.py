"""Routability estimation core shared by routability NAS and FLNet: estimators, data loading, evaluation protocol."""
