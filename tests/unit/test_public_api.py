import subprocess
import sys

import voicelab


def test_public_api_is_explicit_and_resolvable():
    assert {"CallServer", "LocalNetwork", "Settings", "VoicelabError"} <= set(voicelab.__all__)
    assert not [name for name in voicelab.__all__ if name.startswith("_") and name != "__version__"]
    for name in voicelab.__all__:
        assert getattr(voicelab, name) is not None, name
    errors = [getattr(voicelab, n) for n in voicelab.__all__ if n.endswith("Error")]
    assert all(issubclass(e, voicelab.VoicelabError) for e in errors)


def test_importing_voicelab_does_not_load_pipecat():
    code = "import sys, voicelab, voicelab.analysis; print('pipecat' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
