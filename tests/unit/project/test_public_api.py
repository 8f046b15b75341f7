import inspect

import pytest

import voicelab
import voicelab.analysis
from voicelab import errors


def test_public_api_is_explicit_sorted_and_resolvable():
    names = voicelab.__all__
    assert names == sorted(set(names)), "voicelab.__all__: sorted, each name once"
    assert not [name for name in names if name.startswith("_") and name != "__version__"]
    for name in names:  # the lazy names too: each imports and is what its module defines
        value = getattr(voicelab, name)
        assert value is not None, name
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__name__ == name, name
            assert value.__module__.startswith("voicelab."), name
    assert set(dir(voicelab)) >= {"Settings", "load_settings", "VoicelabError"}


def test_every_error_in_the_tree_is_exported_and_catchable_from_voicelab():
    tree = {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert set(tree) == set(errors.__all__)
    assert set(tree) <= set(voicelab.__all__)
    for name, cls in tree.items():
        assert getattr(voicelab, name) is cls, name
        assert issubclass(cls, voicelab.VoicelabError), name
    # Nothing else exported from voicelab calls itself an error.
    exported = [getattr(voicelab, n) for n in voicelab.__all__]
    raised = {v for v in exported if inspect.isclass(v) and issubclass(v, BaseException)}
    assert raised == set(tree.values())


@pytest.mark.parametrize("name", ["OutboundRefused", "TwilioApiError", "MalformedCall"])
def test_an_error_raised_deep_inside_is_the_one_voicelab_exports(name):
    # The modules that raise them hold the same class, not a look-alike of their own.
    from voicelab.analysis import _files
    from voicelab.server import dialling
    from voicelab.simulator import _carrier_twilio

    homes = {
        "OutboundRefused": dialling,
        "TwilioApiError": _carrier_twilio,
        "MalformedCall": _files,
    }
    assert getattr(homes[name], name) is getattr(voicelab, name)
    assert getattr(voicelab, name).__module__ == "voicelab.errors"


def test_analysis_exports_the_users_vocabulary_only():
    names = voicelab.analysis.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(voicelab.analysis, name) is not None, name
    # The WER normaliser's helpers and the judge's rubric are the analysis' own business.
    internals = {"normalize_text", "number_to_words", "RUBRIC", "RUBRIC_VERSION", "call_actions"}
    assert not internals & set(names)
    assert {"turns_df", "calls_df", "compare", "call_wer", "turn_wer"} <= set(names)
