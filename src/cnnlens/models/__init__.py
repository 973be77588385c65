"""The networks: the recipe's CIFAR-10 CNN and its attention variants, and torchvision's VGG16."""
