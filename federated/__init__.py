"""Federated routability estimation (FLNet, arXiv 2203.16009) on TensorFlow Federated; TFF is imported lazily."""
