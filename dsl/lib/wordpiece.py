"""BERT uncased WordPiece for ASCII text as NIC tables: byte classes and a dense trie walked as a DFA.

What HF ``tokenizers`` does to ASCII text with a ``BertNormalizer`` (lowercase,
clean text), a ``BertPreTokenizer`` and a ``WordPiece`` model comes down to:

* **Byte classes.** Letters (folded to lowercase) and digits are word symbols
  0..35; space, tab, CR and LF separate words; each ASCII punctuation byte is a
  word of its own (one token, its vocabulary id). Anything else -- bytes >= 0x80,
  other control bytes (which the normalizer deletes or reinterprets), DEL --
  is class ``HOST``: the chunk goes to the host part, the real library.
* **Greedy longest-match-first.** A word is cut into pieces: from the piece's
  start, the longest vocabulary entry that is a prefix (a piece after the first
  is looked up with the ``##`` continuation prefix). A word of more than 100
  characters, or one with a position where no entry matches, is the single token
  ``[UNK]`` (the pieces already found are taken back).
* **Special tokens** (``[CLS]``, ``[UNK]``... the file's added tokens) are found
  in the raw text before anything else, case-sensitively. Each starts with a
  punctuation byte that no other place of any special token holds, so the scan
  tries them where it meets that byte: a small raw-byte trie; no match puts the
  punctuation byte's own id.
* **The trie** holds every prefix of every all-alphanumeric token, in two roots
  (first pieces, ``##`` pieces). Walking it from a piece start, the last node
  that is a whole token is the longest match; the walk ends at a missing edge or
  at the word's end, and restarts at the match's end from the ``##`` root.

Tables (:class:`Tables`), for all-MiniLM-L6-v2's 30522-token vocabulary:
``byte_class`` u8[256]; ``single_id`` u16[256] (punctuation ids); ``special``
u16[(k + 1) * 256] and ``special_token`` u16[k + 1] (the special tokens' trie
over raw bytes: 24 entries, 12 KB); ``trans``
u16[(inner + 1) * 36]: one row of 36 child ids per node that has children
(40,643 rows, 2.9 MB); ``token`` u16[nodes + 1] (60,584 entries, 118 KB): the
vocabulary id of each node, or ``NONE``. Node 0 is "no node"; a node with no
children has no row (``node > inner`` means no edge).

:func:`scan` is the state machine a NIC runs over a chunk's bytes, one step at a
time, with the carried state ``(n, pos, mode, node, best, best_end, word_start,
word_out)``; it is what ``examples/tokenize.py`` writes with ``nd.scan``, kept
here in plain Python as the algorithm's statement, checked against HF.
"""
from __future__ import annotations

import functools
import json
import os
import string
from dataclasses import dataclass

import numpy as np

SYMBOLS = string.ascii_lowercase + string.digits          # the 36 in-word symbols
WS, PUNCT, HOST, EOF = 36, 37, 38, 39                       # other byte classes (EOF: past the text)
IDLE, WORD, SKIP, SPECIAL = 0, 1, 2, 3                      # scan modes
NONE = 0xFFFF
ROOT, ROOT_CONT = 1, 2                                      # trie roots: first pieces, '##' pieces
CHUNK_MAX = 500                                             # E5: text bytes per chunk


def word_byte(b: int) -> bool:
    """E5's chunking unit: an ASCII letter or digit, or any byte >= 0x80."""
    return b >= 0x80 or chr(b).isalnum() and b < 0x80


def tokenizer_path(source: str) -> str:
    """``tokenizer.json`` of ``source``: a path, or an installed package with ``get_model_path()``."""
    if os.path.exists(source):
        return source
    import importlib
    mod = importlib.import_module(source)
    return os.path.join(str(mod.get_model_path()), "tokenizer.json")


@functools.lru_cache(maxsize=4)
def hf_tokenizer(source: str):
    """The real HF tokenizer with the file's padding and truncation turned off."""
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_path(source))
    tok.no_padding()
    tok.no_truncation()
    return tok


@dataclass(frozen=True)
class Tables:
    """The dense tables of one vocabulary (see the module docstring for sizes)."""
    byte_class: np.ndarray      # u8[256]
    single_id: np.ndarray       # u16[256]: vocabulary id of a punctuation byte
    trans: np.ndarray           # u16[(inner + 1) * 36]
    special: np.ndarray         # u16[(k + 1) * 256]: special tokens' trie over raw bytes (root 1)
    special_token: np.ndarray   # u16[k + 1]
    token: np.ndarray           # u16[nodes + 1]
    inner: int                  # nodes 1..inner have a row in trans
    unk: int
    max_chars: int
    max_depth: int              # longest all-alphanumeric token, in bytes (without '##')

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.byte_class, self.single_id, self.trans, self.token, self.special,
                                      self.special_token))

    def max_steps(self, length: int) -> int:
        """A bound on :func:`scan`'s steps over ``length`` bytes (see the proof in :func:`scan`)."""
        return (self.max_depth + 5) * length + 2

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], unk: str = "[UNK]", prefix: str = "##",
                   max_chars: int = 100, specials: dict[str, int] | None = None) -> "Tables":
        alnum = set(SYMBOLS)
        first, cont = {}, {}
        for tok, i in vocab.items():
            if tok.startswith(prefix) and len(tok) > len(prefix) and set(tok[len(prefix):]) <= alnum:
                cont[tok[len(prefix):]] = i
            elif tok and set(tok) <= alnum:
                first[tok] = i
        if max(vocab.values()) >= NONE:
            raise ValueError("vocabulary ids must fit u16")
        # nodes: (root, prefix); inner nodes (with children) first, so that leaves need no row
        prefixes = {(r, w[:k]) for r, d in ((ROOT, first), (ROOT_CONT, cont)) for w in d for k in range(1, len(w) + 1)}
        parents = {(r, p[:-1]) for r, p in prefixes}
        inner = sorted(p for p in prefixes if p in parents)
        leaves = sorted(p for p in prefixes if p not in parents)
        ids = {(ROOT, ""): ROOT, (ROOT_CONT, ""): ROOT_CONT}
        for p in inner + leaves:
            ids[p] = len(ids) + 1
        n_inner = 2 + len(inner)
        if len(ids) + 1 >= NONE:
            raise ValueError(f"the trie has {len(ids)} nodes; node ids must fit u16")
        trans = np.zeros((n_inner + 1, len(SYMBOLS)), np.uint16)
        token = np.full(len(ids) + 1, NONE, np.uint16)
        for (r, p), node in ids.items():
            if p:
                trans[ids[(r, p[:-1])], SYMBOLS.index(p[-1])] = node
                tid = (first if r == ROOT else cont).get(p)
                if tid is not None:
                    token[node] = tid
        byte_class = np.full(256, HOST, np.uint8)
        single_id = np.full(256, NONE, np.uint16)
        for b in range(128):
            c = chr(b)
            if c.lower() in alnum:
                byte_class[b] = SYMBOLS.index(c.lower())
            elif c in " \t\r\n":
                byte_class[b] = WS
            elif c in string.punctuation:
                byte_class[b] = PUNCT
                single_id[b] = vocab.get(c, vocab[unk])
        special, special_token = _special_trie(specials or {}, byte_class)
        return cls(byte_class, single_id, trans.reshape(-1), special, special_token, token, n_inner, vocab[unk],
                   max_chars, max(map(len, list(first) + list(cont) + [s[:-1] for s in specials or {}])))

    @classmethod
    def from_tokenizer_json(cls, path: str) -> "Tables":
        with open(path) as f:
            spec = json.load(f)
        model, norm = spec["model"], spec.get("normalizer") or {}
        if model.get("type") != "WordPiece" or norm.get("type") != "BertNormalizer" or not norm.get("lowercase"):
            raise ValueError(f"{path}: not an uncased BERT WordPiece tokenizer")
        if (spec.get("pre_tokenizer") or {}).get("type") != "BertPreTokenizer":
            raise ValueError(f"{path}: pre-tokenizer is not BertPreTokenizer")
        specials = {}
        for a in spec.get("added_tokens", []):
            if a.get("normalized") or a.get("single_word") or a.get("lstrip") or a.get("rstrip"):
                raise ValueError(f"{path}: added token {a['content']!r} is matched in a way the scan does not model")
            specials[a["content"]] = a["id"]
        return cls.from_vocab(model["vocab"], model["unk_token"], model["continuing_subword_prefix"],
                              model["max_input_chars_per_word"], specials)


def _special_trie(specials: dict[str, int], byte_class: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raw = {s.encode(): i for s, i in specials.items()}
    starts = {s[0] for s in raw}
    for s in raw:
        if not s.isascii() or byte_class[s[0]] != PUNCT or any(b in starts for b in s[1:]):
            raise ValueError(f"special token {s!r} must start with an ASCII punctuation byte found nowhere "
                             "else in a special token")
    nodes = {b"": 1}
    for s in sorted(raw):
        for k in range(1, len(s) + 1):
            nodes.setdefault(s[:k], len(nodes) + 1)
    trie = np.zeros((len(nodes) + 1, 256), np.uint16)
    token = np.full(len(nodes) + 1, NONE, np.uint16)
    for p, node in nodes.items():
        if p:
            trie[nodes[p[:-1]], p[-1]] = node
    for s, i in raw.items():
        token[nodes[s]] = i
    return trie.reshape(-1), token


@functools.lru_cache(maxsize=4)
def load(source: str) -> Tables:
    """The tables for ``source`` (a tokenizer.json path or a package), built once per process."""
    return Tables.from_tokenizer_json(tokenizer_path(source))


def step(t: Tables, data: bytes, last: bool, s: dict) -> bool:
    """One step of the NIC's scan: update the carried state ``s`` in place; False when finished.

    The cases, by mode and the class of the byte at ``pos`` (``EOF`` past the end):

    * IDLE: EOF ends; HOST ends with ``host``; WS skips; a byte that starts a
      special token opens SPECIAL (``word_start = pos``); other PUNCT puts its id;
      a symbol opens a word (``word_start = pos``, ``word_out = n``, walk from ROOT).
    * SPECIAL: the raw byte's edge in the special trie moves there (a whole
      special token puts its id and ends); no edge puts the opening byte's id and
      resumes after it.
    * WORD: at 100 bytes into the word with a symbol still there, the word is too
      long: ``[UNK]`` at ``word_out``, then SKIP. A symbol with an edge from
      ``node`` moves there (``best`` = its token, if it is one). Otherwise the walk
      is over: a non-symbol at ROOT_CONT (the previous piece ended exactly here)
      ends the word; with no ``best`` the word is ``[UNK]`` (SKIP); else ``best`` is put
      and the walk restarts at ``best_end`` from ROOT_CONT.
    * SKIP: symbols are skipped; anything else ends the word.

    A word that ends at EOF in a chunk that is not the last is taken back
    (``n = word_out``): the next chunk carries it.

    Bound: every step but the emitting ones moves ``pos`` forward; a piece's walk
    reads at most ``max_depth`` bytes past its start and ends with one emitting
    step, and pieces start at distinct positions. So a word of ``w`` bytes costs at
    most ``w * (max_depth + 1)`` walking and emitting steps, plus ``w + 1`` skipping
    steps and 2 for its start and end; a special token's opening byte costs at most (its length + 1) steps, fewer than
    ``max_depth``; each other byte costs 1 step: in all at most
    ``(max_depth + 5) * len + 2`` (``max_depth`` counts special tokens too).
    """
    n, pos, mode = s["n"], s["pos"], s["mode"]
    eof = pos >= len(data)
    b = 0 if eof else data[pos]
    cls = EOF if eof else int(t.byte_class[b])
    sym = cls < len(SYMBOLS)

    def put(v):
        s["out"].append((s["n"], v))
        s["n"] += 1

    def end_word():
        s["mode"] = IDLE
        if eof and not last:
            s["n"] = s["word_out"]

    if mode == IDLE:
        if eof:
            return False
        if cls == HOST:
            s["host"] = True
            return False
        if cls == WS:
            s["pos"] = pos + 1
        elif cls == PUNCT and t.special[256 + b]:
            s.update(mode=SPECIAL, node=1, word_start=pos)
        elif cls == PUNCT:
            put(int(t.single_id[b]))
            s["pos"] = pos + 1
        else:
            s.update(mode=WORD, node=ROOT, best=NONE, word_start=pos, word_out=n)
        return True
    if mode == SPECIAL:
        nxt = 0 if eof else int(t.special[s["node"] * 256 + b])
        if nxt and t.special_token[nxt] != NONE:
            put(int(t.special_token[nxt]))
            s.update(mode=IDLE, pos=pos + 1)
        elif nxt:
            s.update(node=nxt, pos=pos + 1)
        else:
            put(int(t.single_id[data[s["word_start"]]]))
            s.update(mode=IDLE, pos=s["word_start"] + 1)
        return True
    if mode == SKIP:
        if sym:
            s["pos"] = pos + 1
        else:
            end_word()
        return True
    # WORD
    node = s["node"]
    nxt = int(t.trans[node * len(SYMBOLS) + cls]) if sym and node <= t.inner else 0
    if sym and pos - s["word_start"] == t.max_chars:
        s["n"] = s["word_out"]
        put(t.unk)
        s["mode"] = SKIP
    elif nxt:
        s.update(node=nxt, pos=pos + 1)
        if t.token[nxt] != NONE:
            s.update(best=int(t.token[nxt]), best_end=pos + 1)
    elif node == ROOT_CONT and not sym:
        end_word()
    elif s["best"] == NONE:
        s["n"] = s["word_out"]
        put(t.unk)
        s["mode"] = SKIP
    else:
        put(s["best"])
        s.update(pos=s["best_end"], node=ROOT_CONT, best=NONE)
    return True


def scan(t: Tables, data: bytes, last: bool = True) -> tuple[list[int] | None, int]:
    """Token ids of an ASCII chunk as the NIC computes them (None: the chunk needs the host), and the steps."""
    s = dict(n=0, pos=0, mode=IDLE, node=0, best=NONE, best_end=0, word_start=0, word_out=0, host=False, out=[])
    steps = 0
    while step(t, data, last, s):
        steps += 1
    if s["host"]:
        return None, steps
    out = [0] * s["n"]
    for i, v in s["out"]:           # writes in order; a write past the final n was taken back
        if i < s["n"]:
            out[i] = v
    return out, steps + 1


# -- E5's wire format ------------------------------------------------------------------------------

HEADER = 7                      # doc_id u32, seq u16, last u8


def trailing_run_start(text: bytes) -> int:
    """Where the trailing run of word bytes of ``text`` starts (``len(text)`` if it ends in another byte)."""
    i = len(text)
    while i > 0 and word_byte(text[i - 1]):
        i -= 1
    return i


def split_document(doc: bytes, ends: list[int]) -> list[bytes]:
    """The sender's chunks of ``doc``: each ends at a wanted cut (or after 500 bytes); a chunk that
    ends inside a run of word bytes is followed by one that starts again at the run's start. A cut
    that would leave a chunk of word bytes only (no progress) is passed over for the next one."""
    chunks, start = [], 0
    ends = sorted(set(e for e in ends if 0 < e < len(doc)))
    while start < len(doc):
        limit = min(start + CHUNK_MAX, len(doc))
        for end in [e for e in ends if start < e < limit] + [limit]:
            if end == len(doc) or trailing_run_start(doc[start:end]) > 0:
                break
        else:
            raise ValueError(f"a run of word bytes at {start} is longer than a chunk")
        chunks.append(doc[start:end])
        if end == len(doc):
            break
        start += trailing_run_start(doc[start:end])
    return chunks


def chunk_payload(doc_id: int, seq: int, last: bool, text: bytes) -> bytes:
    return doc_id.to_bytes(4, "big") + seq.to_bytes(2, "big") + bytes([int(last)]) + text


def output_payload(doc_id: int, seq: int, ids: list[int]) -> bytes:
    return (doc_id.to_bytes(4, "big") + seq.to_bytes(2, "big") + len(ids).to_bytes(2, "big")
            + np.asarray(ids, "<u2").tobytes())


def parse_output(payload: bytes) -> tuple[int, int, list[int]]:
    doc_id, seq, n = int.from_bytes(payload[:4], "big"), int.from_bytes(payload[4:6], "big"), \
        int.from_bytes(payload[6:8], "big")
    return doc_id, seq, np.frombuffer(payload[8:8 + 2 * n], "<u2").astype(int).tolist()


def chunk_ids(text: bytes, last: bool, source: str) -> list[int]:
    """The ids the E5 output carries for ``text``, computed by HF tokenizers (the host part)."""
    if not last:
        text = text[:trailing_run_start(text)]
    return hf_tokenizer(source).encode(text.decode("utf-8", errors="replace"), add_special_tokens=False).ids


def host_chunk(payload: bytes, source: str) -> bytes:
    """E5's host part: a well-formed chunk payload in, its output payload out (HF tokenizers)."""
    doc_id, seq, last = int.from_bytes(payload[:4], "big"), int.from_bytes(payload[4:6], "big"), payload[6]
    return output_payload(doc_id, seq, chunk_ids(payload[HEADER:], bool(last), source))
