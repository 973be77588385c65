import torch

from cnnlens.data.dataset import normalize
from cnnlens.data.sources import load_image_folder
from cnnlens.interpret.activations import extract, select_images
from cnnlens.models.cnn import AttentionCNN


def test_select_images_takes_the_first_of_each_class_in_class_order():
    labels = torch.tensor([2, 0, 0, 1, 2, 1, 0])
    assert select_images(labels, 1).tolist() == [1, 3, 0]
    assert select_images(labels, 2).tolist() == [1, 2, 3, 5, 0, 4]


def test_extract_stores_layers_gates_and_predictions(image_folder):
    torch.manual_seed(0)
    dataset = load_image_folder(image_folder)
    model = AttentionCNN().train()
    stored = extract(model, dataset, ["conv1", "conv2", "conv3"], per_class=2)
    assert model.training  # the caller's mode is restored
    assert stored["image_indices"].tolist() == [0, 1, 2, 3, 4, 5]
    assert {name: list(output.shape[1:]) for name, output in stored["layers"].items()} == {
        "conv1": [32, 32, 32],
        "conv2": [64, 16, 16],
        "conv3": [128, 8, 8],
        "ca1": [32],
        "ca2": [64],
        "ca3": [128],
    }
    assert torch.equal(stored["predictions"], stored["logits"].argmax(1))
    with torch.no_grad():
        expected = model.eval().conv1(normalize(dataset.test_images[:6]))
    torch.testing.assert_close(stored["layers"]["conv1"], expected)
    assert stored["classes"] == dataset.classes and torch.equal(stored["labels"], dataset.test_labels[:6])
