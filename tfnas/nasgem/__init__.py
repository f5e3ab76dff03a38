"""NASGEM (arXiv 2007.04452): WL-kernel-guided graph embedding, predictor and bootstrap search on cell DAGs."""
