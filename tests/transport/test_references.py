from channels_fanout.transport.references import References


def test_first_take_and_last_drop_are_reported():
    references = References()
    assert references.take(b"t") is True
    assert references.take(b"t") is False
    assert references.drop(b"t") is False
    assert references.drop(b"t") is True
    assert b"t" not in references


def test_dropping_an_unknown_topic_does_nothing():
    references = References()
    assert references.drop(b"never") is False
    assert len(references) == 0
