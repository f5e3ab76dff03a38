"""Routability NAS (arXiv 2012.01737): guide-DAG cell space, weight-sharing supernet, search and retrain."""
