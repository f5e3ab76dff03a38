"""Weight-sharing supernet parts shared by methods: elastic widths (`masking`) and path samplers (`sampling`)."""
