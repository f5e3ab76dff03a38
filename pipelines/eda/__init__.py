"""EDA data pipeline: Verilog designs → placed + routed layouts (qflow/graywolf/qrouter) → routability samples.

`pipelines.eda` never imports `tfnas`; the flow modules (tools, designs, flow, generate, splits) only need the
standard library and numpy, the map/sample modules add the DEF reader and the tf.data dataset.
"""
