"""Picking the synthesizer by its SOUNDBITE_SYNTHESIZER name."""

from __future__ import annotations

import pytest

from soundbite import spec
from soundbite.core.config import ConfigError
from soundbite.core.synth.catalog import EspeakCatalog, PollyCatalog, build_catalog
from worker.exceptions import ConfigurationError
from worker.synth import DEFAULT_SYNTHESIZER, SYNTHESIZERS, build_synthesizer
from worker.synth.espeak import EspeakSynthesizer
from worker.synth.polly import PollySynthesizer


@pytest.mark.parametrize("name", [None, "", "espeak", " ESPEAK "])
def test_espeak_is_the_default(name):
    synth = build_synthesizer(name)
    assert isinstance(synth, EspeakSynthesizer)
    assert (synth.name, DEFAULT_SYNTHESIZER) == ("espeak", "espeak")
    assert synth.default_voice == spec.DEFAULT_VOICE
    assert spec.DEFAULT_FORMAT in synth.formats()


def test_polly_uses_the_client_it_is_given(moto_polly):
    client = moto_polly.client("polly")
    synth = build_synthesizer("polly", polly_client=client)
    assert isinstance(synth, PollySynthesizer)
    assert synth.client is client
    assert synth.default_voice in {v.id for v in synth.voices()}


def test_unknown_name_is_a_configuration_error_naming_the_choices():
    with pytest.raises(ConfigurationError) as caught:
        build_synthesizer("festival")
    message = str(caught.value)
    assert "'festival'" in message and "SOUNDBITE_SYNTHESIZER" in message
    assert all(name in message for name in SYNTHESIZERS)


@pytest.mark.parametrize("name", [None, "", "espeak", " ESPEAK "])
def test_the_api_catalog_is_chosen_by_the_same_name(name):
    catalog, synth = build_catalog(name), build_synthesizer(name)
    assert isinstance(catalog, EspeakCatalog)
    assert (catalog.name, catalog.default_voice) == (synth.name, synth.default_voice)
    assert (catalog.voices(), catalog.formats()) == (synth.voices(), synth.formats())


def test_the_polly_catalog_lists_what_the_polly_synthesizer_speaks(moto_polly):
    client = moto_polly.client("polly")
    catalog = build_catalog(" Polly ", polly_client=client)
    synth = build_synthesizer("polly", polly_client=client)
    assert isinstance(catalog, PollyCatalog) and catalog.client is client
    assert (catalog.name, catalog.default_voice) == (synth.name, synth.default_voice)
    assert (catalog.voices(), catalog.formats()) == (synth.voices(), synth.formats())


def test_an_unknown_name_is_a_configuration_error_for_the_catalog_too():
    with pytest.raises(ConfigError, match="'festival'.*SOUNDBITE_SYNTHESIZER"):
        build_catalog("festival")
