"""Parser of the NMODL dialect Arbor's modcc accepts (and a few NEURON constructs).

:func:`parse` turns the text of a .mod file into a :class:`~.syntax.Module`.
Constructs whose meaning is clear but which change nothing here (``TABLE``,
``UNITSON``/``UNITSOFF``, ``THREADSAFE``, ``REPRESENTS``, ``INDEPENDENT``)
are accepted and recorded in ``Module.notes``; constructs that cannot be
imported faithfully raise :class:`NmodlError` naming the construct, the file
and the line.
"""
from . import syntax as S
from .errors import NmodlError
from .lexer import tokenize

# Constructs refused everywhere, with the reason.
REFUSED = {
    "VERBATIM": "VERBATIM blocks hold C code, which cannot be imported",
    "POINTER": "POINTER variables refer to another mechanism's memory, which Arbor has not",
    "BBCOREPOINTER": "BBCOREPOINTER variables are CoreNEURON's, which Arbor has not",
    "ARTIFICIAL_CELL": "ARTIFICIAL_CELL is not a membrane mechanism; Arbor has no such mechanism kind",
    "FUNCTION_TABLE": "FUNCTION_TABLE needs data tables, which Arbor has not",
    "EXTERNAL": "EXTERNAL variables belong to another mechanism",
    "FOR_NETCONS": "FOR_NETCONS needs per-connection state, which Arbor has not",
    "WATCH": "WATCH (threshold events inside a mechanism) is not supported by Arbor",
    "NET_EVENT": "NET_EVENT (mechanisms emitting spikes) is not supported by Arbor",
    "NET_SEND": "NET_SEND (self-events) is not supported by Arbor",
    "FROM": "FROM ... TO loops are not supported",
    "WHILE": "WHILE loops are not supported",
    "TABLE_FUNCTION": "function tables are not supported",
    "BEFORE": "BEFORE blocks are not supported by Arbor",
    "AFTER": "AFTER blocks are not supported by Arbor",
    "DISCRETE": "DISCRETE blocks are not supported by Arbor",
    "PARTIAL": "PARTIAL blocks are not supported by Arbor",
    "MATCH": "MATCH blocks are not supported",
    "SENS": "SENS is not supported",
    "LAG": "LAG is not supported",
    "printf": "printf is not supported",
    "net_send": "net_send (self-events) is not supported by Arbor",
    "net_event": "net_event (mechanisms emitting spikes) is not supported by Arbor",
    "net_move": "net_move is not supported by Arbor",
    "INCLUDE": "INCLUDE is not supported: paste the file in",
}

# Top-level blocks that only matter to NEURON.
_SKIPPED_BLOCKS = {"INDEPENDENT": "INDEPENDENT (the time variable) is implicit in Arbor"}
_NOTED_WORDS = {"UNITSON": "UNITSON/UNITSOFF change nothing here",
                "UNITSOFF": "UNITSON/UNITSOFF change nothing here",
                "THREADSAFE": "THREADSAFE: every mechanism is thread-safe here",
                }
# Physical constants NEURON's UNITS blocks define by name: (value, text)
UNIT_CONSTANTS = {"faraday": 96485.3321233100184, "k-mole": 8.31446261815324,
                  "R": 8.31446261815324, "e": 1.602176634e-19}


class _Parser:
    def __init__(self, text, filename):
        self.filename = filename
        self.tokens = tokenize(text, filename)
        self.pos = 0
        self.module = S.Module(filename, S.Neuron())
        self.defines = {}

    # -- token helpers ------------------------------------------------------------
    @property
    def tok(self):
        return self.tokens[self.pos]

    def peek(self, k=1):
        return self.tokens[min(self.pos + k, len(self.tokens) - 1)]

    def error(self, message, line=None):
        raise NmodlError(message, self.filename, self.tok.line if line is None else line)

    def next(self):
        t = self.tok
        self.pos += 1
        return t

    def at(self, text):
        return self.tok.kind in ("op", "name") and self.tok.text == text

    def accept(self, text):
        if self.at(text):
            return self.next()
        return None

    def expect(self, text):
        if not self.at(text):
            self.error(f"expected {text!r}, found {self.tok.text or 'end of file'!r}")
        return self.next()

    def name(self):
        t = self.tok
        if t.kind != "name":
            self.error(f"expected a name, found {t.text or 'end of file'!r}")
        self.refuse_if_needed(t)
        self.pos += 1
        return t.text

    def refuse_if_needed(self, t):
        if t.kind == "verbatim":
            self.error(f"VERBATIM: {REFUSED['VERBATIM']}", t.line)
        if t.kind == "name" and t.text in REFUSED:
            self.error(f"{t.text}: {REFUSED[t.text]}", t.line)

    def note(self, line, text):
        self.module.notes.append((line, text))

    def units(self):
        """Skip a parenthesised unit ``(mA/cm2)`` and return its text, or ''."""
        if not self.at("("):
            return ""
        start = self.next().line
        depth, parts = 1, []
        while depth:
            t = self.next()
            if t.kind == "eof":
                self.error("unterminated unit", start)
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if not depth:
                    break
            parts.append(t.text)
        return "".join(parts)

    def number(self):
        sign = -1.0 if self.accept("-") else 1.0
        if self.accept("+"):
            pass
        t = self.tok
        if t.kind == "number":
            self.pos += 1
            return sign * float(t.text)
        if t.kind == "name" and t.text in self.defines:
            self.pos += 1
            return sign * self.defines[t.text]
        self.error(f"expected a number, found {t.text or 'end of file'!r}")

    def block_body(self, parse_item):
        self.expect("{")
        while not self.accept("}"):
            if self.tok.kind == "eof":
                self.error("unterminated block (missing '}')")
            parse_item()

    # -- file ---------------------------------------------------------------------
    def parse(self):
        while self.tok.kind != "eof":
            self.top_level()
        m = self.module
        if m.neuron.name is None:
            raise NmodlError("no NEURON block with a SUFFIX, POINT_PROCESS or JUNCTION_PROCESS",
                             self.filename, 1)
        return m

    def top_level(self):
        t = self.tok
        self.refuse_if_needed(t)
        word = t.text
        m = self.module
        if word == "NEURON":
            self.next()
            self.block_body(self.neuron_item)
        elif word == "UNITS":
            self.next()
            self.block_body(self.units_item)
        elif word in ("PARAMETER", "ASSIGNED", "STATE", "CONSTANT"):
            self.next()
            target = {"PARAMETER": m.parameters, "ASSIGNED": m.assigned, "STATE": m.states,
                      "CONSTANT": m.constants}[word]
            self.block_body(lambda: target.append(self.declaration(word)))
        elif word == "WHITE_NOISE":
            self.next()
            self.block_body(lambda: m.white_noise.append(self.declaration(word)))
        elif word in _SKIPPED_BLOCKS:
            self.next()
            self.note(t.line, _SKIPPED_BLOCKS[word])
            self.skip_braces()
        elif word in _NOTED_WORDS:
            self.next()
            self.note(t.line, _NOTED_WORDS[word])
        elif word == "DEFINE":
            self.next()
            name = self.name()
            self.defines[name] = self.number()
            self.note(t.line, f"DEFINE {name}: a constant")
        elif word == "LOCAL":
            self.next()
            names = self.name_list()
            for n in names:
                m.assigned.append(S.VarDecl(n, None, "", t.line))
            self.note(t.line, f"top-level LOCAL {', '.join(names)}: per-instance variables")
        elif word in ("INITIAL", "BREAKPOINT"):
            self.next()
            body = self.statements()
            proc = S.Procedure(word, word, [], body, t.line, self.tokens[self.pos - 1].line)
            setattr(m, word.lower(), proc)
        elif word in ("NET_RECEIVE", "POST_EVENT"):
            self.next()
            args = self.arg_list() if self.at("(") else []
            body = self.statements()
            proc = S.Procedure(word, word, args, body, t.line, self.tokens[self.pos - 1].line)
            if word == "NET_RECEIVE":
                m.net_receive = proc
            else:
                m.post_event = proc
        elif word in ("DERIVATIVE", "KINETIC", "LINEAR", "NONLINEAR"):
            self.next()
            name = self.name()
            body = self.statements()
            m.blocks[name] = S.Procedure(word, name, [], body, t.line, self.tokens[self.pos - 1].line)
        elif word in ("PROCEDURE", "FUNCTION"):
            self.next()
            name = self.name()
            args = self.arg_list() if self.at("(") else []
            self.units()
            body = self.statements()
            m.functions[name] = S.Procedure(word, name, args, body, t.line, self.tokens[self.pos - 1].line)
        else:
            self.error(f"unexpected {word!r} at the top level of the file"
                       if word else "unexpected end of file")

    def skip_braces(self):
        self.expect("{")
        depth = 1
        while depth:
            t = self.next()
            if t.kind == "eof":
                self.error("unterminated block")
            depth += {"{": 1, "}": -1}.get(t.text, 0)

    def arg_list(self):
        self.expect("(")
        args = []
        while not self.accept(")"):
            args.append(self.name())
            self.units()
            self.accept(",")
        return args

    def name_list(self):
        names = [self.name()]
        while self.accept(","):
            names.append(self.name())
        return names

    # -- NEURON block ----------------------------------------------------------------
    def neuron_item(self):
        t = self.tok
        n = self.module.neuron
        self.refuse_if_needed(t)
        word = self.name()
        if word in ("SUFFIX", "POINT_PROCESS", "JUNCTION_PROCESS", "VOLTAGE_PROCESS"):
            if n.name is not None:
                self.error(f"{word}: the mechanism is already named {n.name!r}", t.line)
            n.kind, n.name, n.line = word, self.name(), t.line
        elif word == "USEION":
            ion = self.name()
            read, write, valence = [], [], None
            while self.tok.text in ("READ", "WRITE", "VALENCE", "REPRESENTS"):
                what = self.next().text
                if what == "READ":
                    read += self.name_list()
                elif what == "WRITE":
                    write += self.name_list()
                elif what == "REPRESENTS":
                    self.name_or_skip()
                    self.note(t.line, "REPRESENTS: an annotation, ignored")
                elif self.tok.kind == "name":
                    valence = self.name()
                else:
                    valence = self.number()
            n.ions.append(S.UseIon(ion, read, write, valence, t.line))
        elif word == "NONSPECIFIC_CURRENT":
            n.nonspecific += self.name_list()
        elif word == "ELECTRODE_CURRENT":
            names = self.name_list()
            n.electrode_current += names
            self.note(t.line, f"ELECTRODE_CURRENT {', '.join(names)}: imported as a non-specific "
                              "current of the opposite sign (electrode currents are inward-positive)")
        elif word == "RANGE":
            n.range += self.name_list()
        elif word == "GLOBAL":
            n.globals += self.name_list()
        elif word in _NOTED_WORDS:
            self.note(t.line, _NOTED_WORDS[word])
        elif word == "REPRESENTS":
            self.name_or_skip()
            self.note(t.line, "REPRESENTS: an annotation, ignored")
        else:
            self.error(f"{word!r} is not supported in the NEURON block", t.line)

    def name_or_skip(self):
        if self.at("["):
            while not self.accept("]"):
                self.next()
        else:
            self.next()

    # -- UNITS and declarations --------------------------------------------------------
    def units_item(self):
        t = self.tok
        if self.at("("):
            self.units()
            self.expect("=")
            self.units()
            return
        name = self.name()
        self.expect("=")
        if self.at("("):
            what = self.units()
            value = UNIT_CONSTANTS.get(what)
            if value is None:
                self.error(f"unit constant {name} = ({what}) is not known", t.line)
            self.units()
        else:
            value = self.number()
            self.units()
        self.module.constants.append(S.VarDecl(name, value, "", t.line))
        self.note(t.line, f"UNITS constant {name} = {value!r}")

    def declaration(self, block):
        t = self.tok
        name = self.name()
        if self.at("["):
            self.error(f"{block} {name}: array variables are not supported", t.line)
        default = None
        if self.accept("="):
            default = self.number()
        units = self.units()
        lower = upper = None
        if self.accept("<"):
            lower = self.number()
            self.expect(",")
            upper = self.number()
            self.expect(">")
        if self.accept("FROM"):
            lower = self.number()
            self.expect("TO")
            upper = self.number()
        if self.accept("START"):
            default = self.number()
        return S.VarDecl(name, default, units, t.line, lower, upper)

    # -- statements ------------------------------------------------------------------
    def statements(self):
        self.expect("{")
        body = []
        while not self.accept("}"):
            if self.tok.kind == "eof":
                self.error("unterminated block (missing '}')")
            stmt = self.statement()
            if isinstance(stmt, list):
                body.extend(stmt)
            elif stmt is not None:
                body.append(stmt)
        return body

    def statement(self):
        t = self.tok
        self.refuse_if_needed(t)
        line = t.line
        if t.kind == "op" and t.text == "~":
            self.next()
            return self.tilde(line)
        if t.kind == "op" and t.text == "{":
            return S.If(S.Num(1.0, "1"), self.statements(), [], line)
        if t.kind != "name":
            self.error(f"unexpected {t.text!r}")
        word = t.text
        if word == "LOCAL":
            self.next()
            return S.Local(self.name_list(), line)
        if word == "INITIAL" and self.peek().text == "{":
            # only inside NET_RECEIVE (the top-level INITIAL is not a statement)
            self.next()
            self.note(line, "INITIAL inside NET_RECEIVE: run on every event, as modcc does "
                            "(NEURON runs it once per connection)")
            return self.statements()
        if word in ("if", "IF"):
            return self.if_statement()
        if word == "SOLVE":
            self.next()
            block = self.name()
            method = None
            if self.accept("METHOD"):
                method = self.name()
            elif self.accept("STEADYSTATE"):
                solver = self.name()
                if solver != "sparse":
                    self.error(f"SOLVE ... STEADYSTATE {solver}: modcc knows STEADYSTATE sparse only", line)
                method = "steadystate"
            return S.Solve(block, method, line)
        if word == "CONSERVE":
            self.next()
            lhs = self.conserve_sum()
            self.expect("=")
            return S.Conserve(lhs, self.expression(), line)
        if word == "COMPARTMENT":
            self.next()
            self.error("COMPARTMENT is not supported (modcc ignores volumes; import it without)", line)
        if word == "CONDUCTANCE":
            self.next()
            name = self.name()
            ion = None
            if self.accept("USEION"):
                ion = self.name()
            return S.Conductance(name, ion, line)
        if word == "TABLE":
            self.next()
            while self.tok.line == line and self.tok.kind != "eof" and not self.at("}"):
                self.next()
            self.note(line, "TABLE: ignored (the functions are computed exactly)")
            return None
        if word in _NOTED_WORDS:
            self.next()
            self.note(line, _NOTED_WORDS[word])
            return None
        # assignment, derivative or call
        name = self.name()
        if self.accept("'"):
            self.expect("=")
            return S.DerivAssign(name, self.expression(), line)
        if self.accept("="):
            return S.Assign(name, self.expression(), line)
        if self.at("("):
            return S.CallStmt(S.Call(name, tuple(self.call_args())), line)
        self.error(f"unexpected {self.tok.text!r} after {name!r}")

    def if_statement(self):
        line = self.next().line
        self.expect("(")
        cond = self.expression()
        self.expect(")")
        then = self.statements()
        orelse = []
        if self.accept("else") or self.accept("ELSE"):
            if self.tok.text in ("if", "IF"):
                orelse = [self.if_statement()]
            else:
                orelse = self.statements()
        return S.If(cond, then, orelse, line)

    def tilde(self, line):
        # a reaction (KINETIC) or an equation (LINEAR/NONLINEAR)
        start = self.pos
        lhs = self.reactants()
        if self.at("<->") or self.at("->"):
            kind = self.next().text
            rhs = self.reactants()
            self.expect("(")
            forward = self.expression()
            backward = None
            if kind == "<->":
                self.expect(",")
                backward = self.expression()
            self.expect(")")
            return S.Reaction(lhs, rhs, forward, backward, line, kind)
        if self.at("<<"):
            self.next()
            self.expect("(")
            flux = self.expression()
            self.expect(")")
            return S.Reaction(lhs, [], flux, None, line, "<<")
        self.pos = start
        left = self.expression()
        self.expect("=")
        return S.LinearEq(left, self.expression(), line)

    def reactants(self):
        out = []
        while True:
            stoich = 1
            if self.tok.kind == "number":
                stoich = int(float(self.next().text))
            if self.tok.kind != "name":
                return None if not out else out
            out.append((stoich, self.name()))
            if not self.accept("+"):
                return out

    def conserve_sum(self):
        """CONSERVE's left side: states with coefficients written as in a reaction
        (``A + 2 B``, modcc's form) or as products (``2 * B``)."""
        return self.additive(self.conserve_term)

    def conserve_term(self):
        if self.tok.kind == "number" and self.peek().kind == "name":
            t = self.next()
            return S.Bin("*", S.Num(float(t.text), t.text), S.Name(self.name()))
        return self.multiplicative()

    # -- expressions -------------------------------------------------------------------
    def call_args(self):
        self.expect("(")
        args = []
        if not self.accept(")"):
            args.append(self.expression())
            while self.accept(","):
                args.append(self.expression())
            self.expect(")")
        return args

    def expression(self):
        return self.logic_or()

    def logic_or(self):
        left = self.logic_and()
        while self.accept("||"):
            left = S.Bin("||", left, self.logic_and())
        return left

    def logic_and(self):
        left = self.comparison()
        while self.accept("&&"):
            left = S.Bin("&&", left, self.comparison())
        return left

    def comparison(self):
        left = self.additive()
        while self.tok.kind == "op" and self.tok.text in ("<", "<=", ">", ">=", "==", "!="):
            op = self.next().text
            left = S.Bin(op, left, self.additive())
        return left

    def additive(self, term=None):
        """A sum of terms (``term``: how one term is parsed; a product by default)."""
        term = term or self.multiplicative
        left = term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.next().text
            left = S.Bin(op, left, term())
        return left

    def multiplicative(self):
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op = self.next().text
            left = S.Bin(op, left, self.unary())
        return left

    def unary(self):
        if self.accept("-"):
            return S.Unary("-", self.unary())
        if self.accept("+"):
            return self.unary()
        if self.accept("!"):
            return S.Unary("!", self.unary())
        return self.power()

    def power(self):
        base = self.atom()
        if self.accept("^"):
            return S.Bin("^", base, self.unary())     # right-associative
        return base

    def atom(self):
        t = self.tok
        if t.kind == "number":
            self.next()
            return S.Num(float(t.text), t.text)
        if self.accept("("):
            e = self.expression()
            self.expect(")")
            return e
        if t.kind == "name":
            name = self.name()
            if name in self.defines:
                value = self.defines[name]
                return S.Num(value, repr(value))
            if self.at("("):
                return S.Call(name, tuple(self.call_args()))
            return S.Name(name)
        self.error(f"unexpected {t.text or 'end of file'!r} in an expression")


def parse(text, filename="<nmodl>"):
    """The :class:`~.syntax.Module` of NMODL source ``text``."""
    return _Parser(text, filename).parse()
