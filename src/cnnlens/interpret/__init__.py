"""Looking inside trained models: hooks, activations, channel maps, Grad-CAM, deconvnet, depth statistics, VGG16."""
