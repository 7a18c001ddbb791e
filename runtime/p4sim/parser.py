"""Parse P4_16 source text (the subset in grammar.lark) into the AST of ast.py.

Pipeline: preprocessor lines (``#include``, ``#define``...) are blanked (line
numbers are kept; ``core.p4`` and ``v1model.p4`` are built in, see
builtins.py) -> lark LALR(1) with the basic lexer -> a post-lexer that, like
p4c's lexer, tells type names from other identifiers (``TYPE_IDENT``) and a
type-argument ``<`` from less-than (``TYPE_LT``) -> a Transformer building the
frozen dataclasses of ast.py.

Type names are collected by a scan of the source before parsing (declarations
of header/struct/enum/typedef/parser/control/extern/package names) plus the
built-in ones, which is what the P4 grammar needs (spec Appendix H: "the
lexer must distinguish type identifiers").

Syntax errors raise :class:`~.errors.P4Error` as ``file:line:col: error: ...``
followed by the source line and a caret (lark's ``get_context``).
"""
from __future__ import annotations

import os
import re

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as A
from .builtins import BUILTIN_TYPE_NAMES
from .errors import Loc, P4Error, caret_context

_GRAMMAR = os.path.join(os.path.dirname(__file__), "grammar.lark")

_TYPE_DECL = re.compile(
    r"\b(?:header|header_union|struct|enum|parser|control|extern|package)\s+"
    r"(?:bit\s*<\s*\d+\s*>\s*)?([A-Za-z_]\w*)")
_TYPEDEF = re.compile(r"\b(?:typedef|type)\b[^;{}]*?\b([A-Za-z_]\w*)\s*;")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_TYPE_START = {"bit", "int", "bool", "varbit", "error", "TYPE_IDENT"}

_TOKEN_NAMES = {
    "SEMICOLON": "';'", "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'",
    "COLON": "':'", "COMMA": "','", "EQUAL": "'='", "IDENT": "identifier", "TYPE_IDENT": "type name",
    "INT": "integer", "$END": "end of input", "MORETHAN": "'>'", "LESSTHAN": "'<'",
    "LSQB": "'['", "RSQB": "']'", "DOT": "'.'",
}


def preprocess(text: str) -> str:
    """Blank out preprocessor directives, keeping line numbers."""
    return "\n".join("" if ln.lstrip().startswith("#") else ln for ln in text.split("\n"))


def type_names(text: str) -> set[str]:
    body = _COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    names = set(BUILTIN_TYPE_NAMES)
    names.update(_TYPE_DECL.findall(body))
    names.update(_TYPEDEF.findall(body))
    return names


class _PostLex:
    """Retags IDENT -> TYPE_IDENT and '<' -> TYPE_LT (see module docstring)."""
    always_accept = ("IDENT",)

    def __init__(self):
        self.types: set[str] = set()

    def process(self, stream):
        prev2 = prev = None
        buf = list(stream)
        for i, tok in enumerate(buf):
            if tok.type == "IDENT" and tok.value in self.types:
                tok.type = "TYPE_IDENT"
        for i, tok in enumerate(buf):
            if tok.type == "LESSTHAN" and prev is not None:
                nxt = buf[i + 1] if i + 1 < len(buf) else None
                nxt2 = buf[i + 2] if i + 2 < len(buf) else None
                type_next = nxt is not None and (nxt.type in _TYPE_START or nxt.value in _TYPE_START) and \
                    not (nxt.type == "TYPE_IDENT" and nxt2 is not None and nxt2.type == "DOT")
                if prev.value in ("bit", "int", "varbit") and prev.type != "IDENT":
                    tok.type = "TYPE_LT"
                elif prev.type == "TYPE_IDENT" and type_next:
                    tok.type = "TYPE_LT"
                elif prev.type == "IDENT" and type_next and prev2 is not None and prev2.type == "DOT":
                    tok.type = "TYPE_LT"
            prev2, prev = prev, tok
            yield tok


_postlex = _PostLex()
_lark = Lark.open(_GRAMMAR, parser="lalr", lexer="basic", postlex=_postlex,
                  propagate_positions=True, maybe_placeholders=True)


def _loc(file, meta_or_tok) -> Loc:
    return Loc(file, getattr(meta_or_tok, "line", 0) or 0, getattr(meta_or_tok, "column", 0) or 0)


def _int_literal(text: str) -> tuple[int, int | None, bool]:
    """(value, width or None, signed) of a P4 integer literal (spec 6.4.3.3)."""
    width = None
    signed = False
    m = re.match(r"(\d+)([ws])(.*)$", text)
    if m:
        width, signed, text = int(m.group(1)), m.group(2) == "s", m.group(3)
    t = text.replace("_", "")
    base = {"0x": 16, "0X": 16, "0b": 2, "0B": 2, "0o": 8, "0O": 8, "0d": 10, "0D": 10}.get(t[:2])
    value = int(t[2:], base) if base else int(t, 10)
    return value, width, signed


@v_args(meta=True)
class _Build(Transformer):
    def __init__(self, file):
        super().__init__()
        self.file = file

    def L(self, meta):
        return _loc(self.file, meta)

    # ---- names, annotations
    def name(self, meta, c):
        return c[0].value

    def name_apply(self, meta, c):
        return "apply"

    def name_key(self, meta, c):
        return "key"

    def name_actions(self, meta, c):
        return "actions"

    def name_entries(self, meta, c):
        return "entries"

    def name_state(self, meta, c):
        return "state"

    def annos(self, meta, c):
        return tuple(c)

    def annotation(self, meta, c):
        args = tuple(a for a in c[1:] if a is not None)
        return A.Annotation(c[0], args, self.L(meta))

    def anno_arg(self, meta, c):
        return c[0]

    def anno_kv(self, meta, c):
        return ("kv", c[0], c[1])

    # ---- types
    def t_bool(self, meta, c):
        return A.TypeRef("bool", loc=self.L(meta))

    def t_bit1(self, meta, c):
        return A.TypeRef("bit", A.IntLit(1, None, False, self.L(meta)), loc=self.L(meta))

    def t_bit(self, meta, c):
        return A.TypeRef("bit", c[1], loc=self.L(meta))

    def t_int(self, meta, c):
        return A.TypeRef("int", c[1], loc=self.L(meta))

    def t_infint(self, meta, c):
        return A.TypeRef("infint", loc=self.L(meta))

    def t_error(self, meta, c):
        return A.TypeRef("error", loc=self.L(meta))

    def t_void(self, meta, c):
        return A.TypeRef("void", loc=self.L(meta))

    def t_name(self, meta, c):
        return A.TypeRef("name", name=c[0].value, loc=self.L(meta))

    def t_spec(self, meta, c):
        return A.TypeRef("spec", name=c[0].value, args=c[1], loc=self.L(meta))

    def type_args(self, meta, c):
        return tuple(x for x in c if isinstance(x, A.TypeRef))

    def width(self, meta, c):
        t = c[0]
        if isinstance(t, Token) and t.type == "INT":
            return self.int_lit(meta, [t])
        if isinstance(t, Token):
            return A.Name(t.value, _loc(self.file, t))
        return t

    def type(self, meta, c):
        return c[0]

    # ---- declarations
    def start(self, meta, c):
        return tuple(d for d in c if d is not None)

    def empty_decl(self, meta, c):
        return None

    def annotated_decl(self, meta, c):
        annos, d = c
        return _with_annos(d, annos)

    def const_decl(self, meta, c):
        return A.ConstDecl(c[0], c[1], c[2], self.L(meta))

    def typedef_decl(self, meta, c):
        return A.TypedefDecl(c[0], c[1], self.L(meta))

    def header_decl(self, meta, c):
        return A.HeaderDecl(c[0], tuple(c[1:]), self.L(meta))

    def struct_decl(self, meta, c):
        return A.StructDecl(c[0], tuple(c[1:]), self.L(meta))

    def field(self, meta, c):
        annos, typ, size, name = c
        return A.Field(typ, name, size, self.L(meta), annos)

    def error_decl(self, meta, c):
        return A.ErrorDecl(tuple(c), self.L(meta))

    def match_kind_decl(self, meta, c):
        return A.MatchKindDecl(tuple(c), self.L(meta))

    def enum_decl(self, meta, c):
        has_width = any(isinstance(x, Token) and x.type == "TYPE_LT" for x in c)
        rest = [x for x in c if not isinstance(x, Token)]
        width = rest.pop(0) if has_width else None
        return A.EnumDecl(rest[0], width, tuple(rest[1:]), self.L(meta))

    def enum_member(self, meta, c):
        return (c[0], c[1])

    def instantiation(self, meta, c):
        return A.Instantiation(c[0], c[1] or (), c[2], self.L(meta))

    def var_decl(self, meta, c):
        return A.VarDecl(c[0], c[1], c[2], self.L(meta))

    def params(self, meta, c):
        return tuple(p for p in c if p is not None)

    def param(self, meta, c):
        annos, d, typ, name, _default = c
        return A.Param(d or "", typ, name, self.L(meta), annos)

    def dir_in(self, meta, c):
        return "in"

    def dir_out(self, meta, c):
        return "out"

    def dir_inout(self, meta, c):
        return "inout"

    def direction(self, meta, c):
        return c[0]

    # ---- parsers
    def parser_decl(self, meta, c):
        name, params = c[0], c[1]
        locs = tuple(x for x in c[2:] if not isinstance(x, A.ParserState))
        states = tuple(x for x in c[2:] if isinstance(x, A.ParserState))
        return A.ParserDecl(name, params, locs, states, self.L(meta))

    def parser_local(self, meta, c):
        return _with_annos(c[1], c[0])

    def parser_state(self, meta, c):
        annos, name, *rest = c
        trans = rest[-1] if rest and isinstance(rest[-1], A.Transition) else None
        stmts = tuple(s for s in rest if not isinstance(s, A.Transition) and s is not None)
        return A.ParserState(name, stmts, trans, self.L(meta), annos)

    def trans_direct(self, meta, c):
        return A.Transition((), (), c[0], self.L(meta))

    def trans_select(self, meta, c):
        exprs, cases = c[0]
        return A.Transition(exprs, cases, "", self.L(meta))

    def select_expr(self, meta, c):
        return (tuple(c[0]), tuple(c[1:]))

    def select_case(self, meta, c):
        return A.SelectCase(c[0], c[1], self.L(meta))

    def keyset(self, meta, c):
        return (c[0],)

    def keyset_tuple(self, meta, c):
        return tuple(c)

    def keyset_elem(self, meta, c):
        return c[0]

    def ks_mask(self, meta, c):
        return A.KsMask(c[0], c[1], self.L(meta))

    def ks_range(self, meta, c):
        return A.KsRange(c[0], c[1], self.L(meta))

    def ks_default(self, meta, c):
        return A.KsDefault(self.L(meta))

    def ks_dontcare(self, meta, c):
        return A.KsDefault(self.L(meta))

    # ---- controls
    def control_decl(self, meta, c):
        name, params, *locs, body = c
        return A.ControlDecl(name, params, tuple(locs), body, self.L(meta))

    def control_local(self, meta, c):
        return _with_annos(c[1], c[0])

    def action_decl(self, meta, c):
        return A.ActionDecl(c[0], c[1], c[2], self.L(meta))

    def table_decl(self, meta, c):
        name, *props = c
        keys, actions, entries, size, other = (), (), None, None, []
        default, const_default = None, False
        for kind, *val in props:
            if kind == "key":
                keys = val[0]
            elif kind == "actions":
                actions = val[0]
            elif kind == "entries":
                entries = val[0]
            elif kind == "other":
                pname, expr, is_const, loc = val
                if pname == "default_action":
                    default = _action_ref(expr, loc)
                    const_default = is_const
                elif pname == "size":
                    size = expr
                else:
                    other.append((pname, expr, loc))
        return A.TableDecl(name, keys, actions, default, const_default, entries, size, tuple(other),
                           self.L(meta))

    def tp_key(self, meta, c):
        return ("key", tuple(c[1:]))

    def tp_actions(self, meta, c):
        return ("actions", tuple(c[1:]))

    def tp_entries(self, meta, c):
        return ("entries", tuple(c[2:]))

    def tp_other(self, meta, c):
        return ("other", c[2].value, c[3], c[1] is not None, self.L(meta))

    def key_elem(self, meta, c):
        return A.KeyElem(c[0], c[1], self.L(meta), c[2])

    def action_ref_item(self, meta, c):
        r = c[1]
        return A.ActionRef(r.name, r.args, r.loc, c[0])

    def action_ref(self, meta, c):
        args = None
        if len(c) > 1:
            args = tuple(c[1]) if c[1] is not None else ()
        return A.ActionRef(c[0], args, self.L(meta))

    def entry(self, meta, c):
        annos, keys, action, _annos2 = c
        return A.Entry(keys, action, self.L(meta), annos)

    # ---- statements
    def block(self, meta, c):
        return A.Block(tuple(s for s in c if s is not None), self.L(meta))

    def assign(self, meta, c):
        return A.Assign(c[0], c[1], self.L(meta))

    def call_stmt(self, meta, c):
        e = c[0]
        if not isinstance(e, A.Call):
            raise P4Error(self.L(meta), "expression statement must be a method or function call")
        return A.CallStmt(e, self.L(meta))

    def if_stmt(self, meta, c):
        return A.If(c[0], c[1], c[2] if len(c) > 2 else None, self.L(meta))

    def exit_stmt(self, meta, c):
        return A.Exit(self.L(meta))

    def return_stmt(self, meta, c):
        return A.Return(c[0] if c else None, self.L(meta))

    def switch_stmt(self, meta, c):
        return A.Switch(c[0], tuple(c[1:]), self.L(meta))

    def switch_case(self, meta, c):
        label = c[0]
        body = c[1] if len(c) > 1 else None
        return A.SwitchCase(label, body, self.L(meta))

    def sw_default(self, meta, c):
        return None

    def switch_label(self, meta, c):
        return c[0]

    def empty_stmt(self, meta, c):
        return None

    # ---- expressions
    def args(self, meta, c):
        return tuple(c)

    def list_expr(self, meta, c):
        return A.ListExpr(tuple(c[0] or ()), self.L(meta))

    def dontcare_arg(self, meta, c):
        return A.DontCare(self.L(meta))

    def cond(self, meta, c):
        return A.Cond(c[0], c[1], c[2], self.L(meta))

    def neg(self, meta, c):
        return A.Unary("-", c[0], self.L(meta))

    def bnot(self, meta, c):
        return A.Unary("~", c[0], self.L(meta))

    def lnot(self, meta, c):
        return A.Unary("!", c[0], self.L(meta))

    def cast(self, meta, c):
        return A.Cast(c[0], c[1], self.L(meta))

    def member(self, meta, c):
        return A.Member(c[0], c[1], self.L(meta))

    def index(self, meta, c):
        return A.Index(c[0], c[1], self.L(meta))

    def slice(self, meta, c):
        return A.Slice(c[0], c[1], c[2], self.L(meta))

    def call(self, meta, c):
        return A.Call(c[0], (), tuple(c[1] or ()), self.L(meta))

    def gcall(self, meta, c):
        return A.Call(c[0], c[1], tuple(c[2] or ()), self.L(meta))

    def int_lit(self, meta, c):
        v, w, s = _int_literal(c[0].value)
        return A.IntLit(v, w, s, _loc(self.file, c[0]))

    def true_lit(self, meta, c):
        return A.BoolLit(True, self.L(meta))

    def false_lit(self, meta, c):
        return A.BoolLit(False, self.L(meta))

    def str_lit(self, meta, c):
        return A.StrLit(c[0].value[1:-1].encode().decode("unicode_escape"), _loc(self.file, c[0]))

    def ident(self, meta, c):
        return A.Name(c[0].value, _loc(self.file, c[0]))

    def error_lit(self, meta, c):
        return A.ErrorLit(c[0], self.L(meta))

    def type_member(self, meta, c):
        return A.TypeMember(c[0].value, c[1], self.L(meta))

    def ctor(self, meta, c):
        return A.Ctor(c[0].value, tuple(c[1] or ()), self.L(meta))


def _bin(op):
    def f(self, meta, c):
        return A.Binary(op, c[0], c[-1], self.L(meta))
    return f


for _rule, _op in {"bin_lor": "||", "bin_land": "&&", "bin_eq": "==", "bin_ne": "!=", "bin_lt": "<",
                   "bin_gt": ">", "bin_le": "<=", "bin_ge": ">=", "bin_or": "|", "bin_xor": "^",
                   "bin_and": "&", "bin_shl": "<<", "bin_shr": ">>", "bin_add": "+", "bin_sub": "-",
                   "bin_concat": "++", "bin_addsat": "|+|", "bin_subsat": "|-|", "bin_mul": "*",
                   "bin_div": "/", "bin_mod": "%"}.items():
    setattr(_Build, _rule, v_args(meta=True)(_bin(_op)))


def _with_annos(d, annos):
    if annos and hasattr(d, "annos"):
        import dataclasses
        return dataclasses.replace(d, annos=tuple(annos))
    return d


def _action_ref(expr, loc) -> A.ActionRef:
    if isinstance(expr, A.Name):
        return A.ActionRef(expr.name, None, expr.loc)
    if isinstance(expr, A.Call) and isinstance(expr.func, A.Name):
        return A.ActionRef(expr.func.name, tuple(expr.args), expr.loc)
    raise P4Error(loc, "default_action must name an action, optionally with arguments")


def _describe(tok) -> str:
    if tok is None:
        return "end of input"
    if tok.type == "$END":
        return "end of input"
    return repr(tok.value)


def parse(text: str, filename: str = "<input>") -> A.Program:
    """Parse P4 source; raise P4Error (with caret context) on a syntax error."""
    src = preprocess(text)
    _postlex.types = type_names(src)
    try:
        tree = _lark.parse(src)
    except UnexpectedInput as e:
        line, col = getattr(e, "line", 0) or 0, getattr(e, "column", 0) or 0
        if isinstance(e, UnexpectedToken):
            if e.token.type == "$END":
                line = src.count("\n") + 1
                col = len(src.split("\n")[-1]) + 1
            exp = sorted(_TOKEN_NAMES.get(t, t) for t in (e.expected or ()) if not t.startswith("__"))
            msg = f"syntax error, unexpected {_describe(e.token)}"
            if exp and len(exp) <= 6:
                msg += ", expecting " + " or ".join(exp)
        elif isinstance(e, UnexpectedCharacters):
            msg = f"syntax error, unexpected character {src[e.pos_in_stream]!r}"
        elif isinstance(e, UnexpectedEOF):
            msg = "syntax error, unexpected end of input"
        else:
            msg = "syntax error"
        try:      # lark's context, widened from its default 40 characters to the whole line
            ctx = e.get_context(src, span=10_000) if getattr(e, "pos_in_stream", None) is not None else ""
        except Exception:
            ctx = ""
        if not ctx and line:
            ctx = caret_context(src, line, col)
        raise P4Error(Loc(filename, line, col), msg, ctx) from None
    try:
        decls = _Build(filename).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, P4Error):
            raise e.orig_exc from None
        raise
    return A.Program(tuple(decls), filename, text)
