"""Which Arbor arbor_pycat works with."""
SUPPORTED = (0, 12)          # Arbor 0.12.x: mechanism ABI 0.7
SUPPORTED_TEXT = ">=0.12, <0.13"


class UnsupportedArborError(ImportError):
    """The installed Arbor is not one arbor_pycat supports."""


def arbor_version(arbor_module=None):
    if arbor_module is None:
        import arbor as arbor_module
    text = getattr(arbor_module, "__version__", "unknown")
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else -1)
    return text, tuple(parts)


def check_arbor(arbor_module=None):
    """Raise :class:`UnsupportedArborError` unless Arbor 0.12.x is installed."""
    text, version = arbor_version(arbor_module)
    if version != SUPPORTED:
        raise UnsupportedArborError(
            f"arbor_pycat supports arbor {SUPPORTED_TEXT} (mechanism ABI 0.7); "
            f"the installed arbor is {text}. Install a supported version: "
            f"pip install 'arbor{SUPPORTED_TEXT.replace(' ', '')}'")
    return text
