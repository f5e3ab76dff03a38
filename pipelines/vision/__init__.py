"""Image data for the vision searches: official-format readers (CIFAR-10 pickles, class folders) and small real data."""
