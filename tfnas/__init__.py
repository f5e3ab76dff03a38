"""tfnas: neural architecture search on TensorFlow/Keras (NASRec, AutoShrink, NASGEM, routability NAS, FLNet)."""
__version__ = "0.1.0"
