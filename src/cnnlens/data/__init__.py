"""Data sets: sources (CIFAR-10 download, ImageFolder dir or .tar.gz) into one uint8 tensor cache; augmentations."""
