"""Clustered, normalised 384-d vectors shaped like e5 passage embeddings.

Uniform random vectors make approximate search look worse (no neighbours) or
better (no near-ties) than it is on text; these follow how e5 embeddings of a
news corpus are laid out:

- a strong shared direction (e5 is anisotropic: on the five articles the mean
  pairwise cosine is 0.84 and the mean vector has norm 0.92);
- topics, documents within topics, and passages within documents;
- within a document, variation along a low-rank, per-topic subspace plus a
  little isotropic noise.

A query is a new passage of an existing document (held out: never indexed), so
it has real near neighbours, as a question about the corpus does.
"""

from __future__ import annotations

import numpy as np

DIM = 384
PASSAGES_PER_DOC = 8
N_TOPICS = 256
RANK = 16
# Shares of the squared norm; calibrated so the statistics match e5 on the corpus
# (see measured_stats(): mean cosine ~0.84, nearest neighbour within a document ~0.92).
SHARED = 0.84
TOPIC, DOC, LOWRANK, NOISE = 0.15, 0.30, 0.35, 0.20


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class ClusteredVectors:
    """One fixed layout (seeded); ``passages(n)`` and ``queries(n)`` sample from it."""

    def __init__(self, n_docs: int, seed: int = 0, dim: int = DIM) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.shared = _unit(rng.standard_normal(dim)).astype(np.float32)
        self.topics = _unit(rng.standard_normal((N_TOPICS, dim))).astype(np.float32)
        self.bases = (rng.standard_normal((N_TOPICS, RANK, dim)) / np.sqrt(dim)).astype(np.float32)
        # Uneven topic sizes, as in real corpora.
        weights = rng.dirichlet(np.full(N_TOPICS, 0.5))
        self.doc_topic = rng.choice(N_TOPICS, size=n_docs, p=weights)
        self.doc_offset = _unit(rng.standard_normal((n_docs, dim))).astype(np.float32)
        self.n_docs = n_docs

    def _sample(self, docs: np.ndarray, rng: np.random.Generator, block: int = 50_000) -> np.ndarray:
        out = np.empty((len(docs), self.dim), dtype=np.float32)
        for s in range(0, len(docs), block):
            d = docs[s:s + block]
            t = self.doc_topic[d]
            z = rng.standard_normal((len(d), RANK), dtype=np.float32)
            low = _unit(np.einsum("br,brd->bd", z, self.bases[t]))
            noise = _unit(rng.standard_normal((len(d), self.dim), dtype=np.float32))
            resid = (np.sqrt(TOPIC) * self.topics[t] + np.sqrt(DOC) * self.doc_offset[d]
                     + np.sqrt(LOWRANK) * low + np.sqrt(NOISE) * noise)
            x = np.sqrt(SHARED) * self.shared + np.sqrt(1 - SHARED) * _unit(resid)
            out[s:s + block] = _unit(x)
        return out

    def passages(self, n: int, seed: int = 1) -> np.ndarray:
        """``n`` indexed vectors: PASSAGES_PER_DOC per document on average."""
        rng = np.random.default_rng(seed)
        return self._sample(rng.integers(0, self.n_docs, size=n), rng)

    def queries(self, n: int, seed: int = 2) -> np.ndarray:
        """Held-out vectors from the same documents (never added to the index)."""
        rng = np.random.default_rng(seed)
        return self._sample(rng.integers(0, self.n_docs, size=n), rng)


def dataset(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, queries) for a corpus of ``n`` passages."""
    layout = ClusteredVectors(max(1, n // PASSAGES_PER_DOC), seed=seed)
    return layout.passages(n), layout.queries(n_queries)


def measured_stats(vectors: np.ndarray, sample: int = 2000, seed: int = 0) -> dict:
    """Mean pairwise cosine, norm of the mean, median nearest-neighbour cosine (on a sample)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    s = vectors[idx] @ vectors[idx].T
    iu = np.triu_indices(len(idx), 1)
    np.fill_diagonal(s, -1)
    return {"mean_cosine": float(s[iu].mean()), "mean_vector_norm": float(np.linalg.norm(vectors.mean(0))),
            "median_nn_cosine_in_sample": float(np.median(s.max(1)))}
