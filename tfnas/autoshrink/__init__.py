"""AutoShrink (arXiv 1911.09251): shrink a dense DAG cell edge by edge; ShrinkCNN and ShrinkRNN models."""
