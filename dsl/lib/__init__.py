"""Libraries of compile-time tables for pipelines (``nicc.dsl.lib``).

* :mod:`.resize`: bilinear resize exactly as OpenCV's ``INTER_LINEAR_EXACT``, as
  per-column and per-row index/weight tables and integer fixed point, in the
  row-and-tile order a stream of packets delivers an image.
* :mod:`.wordpiece`: BERT uncased WordPiece for ASCII as byte classes and a dense
  trie (a DFA with longest-match backtracking), exactly as HF ``tokenizers``.
"""
