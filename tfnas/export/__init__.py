"""One exporter for every model: `serving` (versioned atomic SavedModel, TF Serving's `name/version/` layout),
`tflite` (float32 / float16 / int8), `reload` (fresh-process check), `latency` (invoke-only TFLite timing,
XNNPACK delegation), `ctr` (the CTR raw-feature signature on top), `runs` (export a run folder by its run.json).

The names callers used from the old single module are re-exported here.
"""
from tfnas.export.ctr import (SPEC_FILE, check_reload, export_saved_model, load_exported_spec,
                              processed_input_model, raw_batch_to_inputs, rest_request_to_inputs,
                              serving_input_signature)
from tfnas.export.reload import check_model_reload, predict_in_subprocess, sample_inputs
from tfnas.export.serving import (SERVING_KEY, check_name, describe_export, existing_versions, export_model,
                                  next_version, write_saved_model)
from tfnas.export.tflite import (quantize_input, tflite_interpreter, tflite_latency, tflite_predict, to_tflite,
                                 write_tflite)

__all__ = ["SERVING_KEY", "SPEC_FILE", "check_model_reload", "check_name", "check_reload", "describe_export",
           "existing_versions", "export_model", "export_saved_model", "load_exported_spec", "next_version",
           "predict_in_subprocess", "processed_input_model", "quantize_input", "raw_batch_to_inputs",
           "rest_request_to_inputs", "sample_inputs", "serving_input_signature", "tflite_interpreter",
           "tflite_latency", "tflite_predict", "to_tflite", "write_saved_model", "write_tflite"]
