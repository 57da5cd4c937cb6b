"""The syntax tree of an NMODL file (expressions, statements, blocks)."""
from dataclasses import dataclass, field


# -- expressions ------------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: float
    text: str = ""


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Unary:
    op: str          # "-", "!"
    operand: object


@dataclass(frozen=True)
class Bin:
    op: str          # + - * / ^ < <= > >= == != && ||
    left: object
    right: object


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


# -- statements -------------------------------------------------------------------
@dataclass
class Assign:
    target: str
    value: object
    line: int


@dataclass
class DerivAssign:            # x' = expr
    target: str
    value: object
    line: int


@dataclass
class If:
    cond: object
    then: list
    orelse: list
    line: int


@dataclass
class Local:
    names: list
    line: int


@dataclass
class Solve:
    block: str
    method: str
    line: int


@dataclass
class CallStmt:
    call: Call
    line: int


@dataclass
class Conductance:
    name: str
    ion: str | None
    line: int


@dataclass
class Reaction:               # ~ A + 2B <-> C (kf, kb)   or   ~ A << (flux)
    lhs: list                 # [(stoich, name)]
    rhs: list
    forward: object
    backward: object          # None for ->
    line: int
    kind: str = "<->"         # "<->", "->", "<<"


@dataclass
class Conserve:
    lhs: object
    rhs: object
    line: int


@dataclass
class LinearEq:               # ~ lhs = rhs (LINEAR / NONLINEAR blocks)
    lhs: object
    rhs: object
    line: int


@dataclass
class Ignored:                # TABLE, UNITSON, ...: accepted with a note
    what: str
    line: int


# -- declarations and blocks ------------------------------------------------------
@dataclass
class VarDecl:
    name: str
    default: float | None
    units: str
    line: int
    lower: float | None = None
    upper: float | None = None


@dataclass
class UseIon:
    ion: str
    read: list
    write: list
    valence: object         # None, a number, or a name
    line: int


@dataclass
class Neuron:
    kind: str = None         # SUFFIX, POINT_PROCESS, JUNCTION_PROCESS, VOLTAGE_PROCESS
    name: str = None
    line: int = 0
    ions: list = field(default_factory=list)
    nonspecific: list = field(default_factory=list)
    range: list = field(default_factory=list)
    globals: list = field(default_factory=list)
    electrode_current: list = field(default_factory=list)


@dataclass
class Procedure:             # PROCEDURE, FUNCTION, DERIVATIVE, KINETIC, LINEAR, NONLINEAR, ...
    kind: str
    name: str
    args: list
    body: list
    line: int
    end_line: int = 0


@dataclass
class Module:
    filename: str
    neuron: Neuron
    parameters: list = field(default_factory=list)
    states: list = field(default_factory=list)
    assigned: list = field(default_factory=list)
    constants: list = field(default_factory=list)
    white_noise: list = field(default_factory=list)
    blocks: dict = field(default_factory=dict)     # name -> Procedure (DERIVATIVE, KINETIC, ...)
    functions: dict = field(default_factory=dict)  # FUNCTION / PROCEDURE by name
    initial: Procedure = None
    breakpoint: Procedure = None
    net_receive: Procedure = None
    post_event: Procedure = None
    notes: list = field(default_factory=list)      # (line, text) of accepted NEURON-dialect constructs
