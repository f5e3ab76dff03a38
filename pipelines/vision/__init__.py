"""Image data: official-format readers (CIFAR-10 pickles, class folders), small real data (digits), named
sources split into train / val / test with the class-balanced search proxy (`images`), and tf.data (`dataset`)."""
