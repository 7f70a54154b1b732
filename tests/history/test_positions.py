import pytest

from channels_fanout.history.positions import Position, next_id


def test_a_position_is_written_as_epoch_colon_id_and_read_back():
    position = Position("a1b2c3", "1733420000000-7")
    assert str(position) == "a1b2c3:1733420000000-7"
    assert Position.parse(str(position)) == position


@pytest.mark.parametrize(
    "text", ["", "a1b2c3", "a1b2c3:", ":1-0", "a1b2c3:1", "a1b2c3:1-x", "A1B2:1-0", "zz:1-0", "a1:1-0:2", 42, None]
)
def test_anything_else_is_refused_naming_the_shape(text):
    with pytest.raises(ValueError, match="is not a history position: positions look like 'epoch:ms-seq'"):
        Position.parse(text)


def test_the_next_id_is_the_smallest_after_it():
    assert next_id("1733420000000-0") == "1733420000000-1"
    assert next_id("5-99") == "5-100"
    with pytest.raises(ValueError):
        next_id("5")
