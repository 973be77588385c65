"""The order of what tables and figures list: values worked out by hand."""

from cnnlens.views.order import chunks, distinct, in_order


def test_distinct_sorts_and_in_order_keeps_first_appearance():
    assert distinct([10, 3, 7, 3]) == [3, 7, 10]
    assert in_order(["relu2", "relu1", "relu2"]) == ["relu2", "relu1"]


def test_chunks_cover_every_item_once_with_a_short_last_chunk():
    assert chunks(7, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert chunks(0, 3) == []
