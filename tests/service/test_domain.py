"""Pure rules: validation, cursors, keys and TTL."""

from datetime import UTC, datetime

import pytest

from soundbite import spec
from soundbite.core import domain
from soundbite.core.exceptions import InvalidRequest

VOICES, FORMATS = {"en-us", "de"}, {"wav", "mp3"}


def test_keys_follow_the_seed_design():
    sb = domain.new_soundbite(domain.CreateRequest("hi", "en-us", "wav"), "prod", None,
                              now=datetime(2026, 1, 1, tzinfo=UTC))
    assert sb.pk == f"prod:{sb.id}" and sb.sk == f"SOUNDBITE#{sb.id}"
    assert sb.expires_at == int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) + 30 * 86400
    assert sb.status is domain.Status.PENDING


def test_text_at_the_limit_is_accepted_and_one_more_is_not():
    ok = domain.parse_create({"text": "a" * spec.TEXT_MAX_CHARS}, VOICES, FORMATS)
    assert len(ok.text) == spec.TEXT_MAX_CHARS
    with pytest.raises(InvalidRequest) as info:
        domain.parse_create({"text": "a" * (spec.TEXT_MAX_CHARS + 1)}, VOICES, FORMATS)
    assert "3000" in info.value.errors[0]["detail"]


def test_unknown_voice_lists_the_known_ones():
    with pytest.raises(InvalidRequest) as info:
        domain.parse_create({"text": "hi", "voice": "xx"}, VOICES, FORMATS)
    assert "de, en-us" in info.value.errors[0]["detail"]


def test_cursor_round_trip_and_refusals():
    codec = domain.CursorCodec("secret")
    position = {"pk": "e:1", "sk": "SOUNDBITE#1", "userId": "u", "environmentCreatedAt": "e#t"}
    token = codec.encode(position, "u")
    assert codec.decode(token, "u") == position
    for bad_user, bad_token in [("v", token), ("u", token[:-2]), ("u", "###"), ("u", "")]:
        with pytest.raises(InvalidRequest):
            codec.decode(bad_token, bad_user)
    with pytest.raises(InvalidRequest):
        domain.CursorCodec("other").decode(token, "u")


@pytest.mark.parametrize("value", ["", "ABC", "g" * 32, "a" * 31, "a" * 33, "a" * 32 + "\n"])
def test_malformed_ids(value):
    with pytest.raises(InvalidRequest):
        domain.check_id(value)


def test_an_omitted_voice_takes_the_synthesizers_default():
    req = domain.parse_create({"text": "hi"}, {"Joanna", "Matthew"}, FORMATS, default_voice="Joanna")
    assert req.voice == "Joanna"
