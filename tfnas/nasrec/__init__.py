"""NASRec (arXiv 2207.07187): whole CTR models searched with one weight-sharing supernet.

`space` (no TensorFlow import) defines the NASRec-Small / NASRec-Full spaces; `ops`, `supernet` and
`subnet` hold the Keras operators, the masked supernet and the standalone subnet builder.
"""
