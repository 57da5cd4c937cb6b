"""Command line: ``python -m arbor_pycat demo [--out FILE]``, ``info MODULE_OR_FILE``, ``nmodl FILE.mod... [-o DIR]``, ``version``."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m arbor_pycat",
                                     description="arbor_pycat: Arbor mechanisms written in Python")
    commands = parser.add_subparsers(dest="command", metavar="command")
    from .tools import demo
    demo_parser = commands.add_parser(
        "demo", help="run a Python Hodgkin-Huxley mechanism next to Arbor's hh and plot both",
        description=demo.DESCRIPTION)
    demo.add_arguments(demo_parser)
    commands.add_parser("version", help="print the versions of arbor_pycat and arbor")
    from .tools import info
    info_parser = commands.add_parser(
        "info", help="describe the mechanism classes of a file or module: declarations, "
                     "backend and form of each method, and why", description=info.DESCRIPTION)
    info.add_arguments(info_parser)
    nmodl_parser = commands.add_parser(
        "nmodl", help="turn .mod files into Python mechanisms (one .py file each)",
        description="Write the Python mechanism of each NMODL file (or of each .mod file of a folder).")
    nmodl_parser.add_argument("files", nargs="+", metavar="FILE.mod", help=".mod files or folders of them")
    nmodl_parser.add_argument("-o", "--output", default=".", metavar="DIR",
                              help="folder for the .py files (default: the current folder)")
    args = parser.parse_args(argv)
    if args.command == "nmodl":
        from . import nmodl
        try:
            written = nmodl.write(args.files, args.output)
        except nmodl.NmodlError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for path in written:
            print(path)
        return 0
    if args.command == "demo":
        return demo.run_from_arguments(args)
    if args.command == "info":
        return info.run_from_arguments(args)
    if args.command == "version":
        import arbor
        import arbor_pycat
        print(f"arbor_pycat {arbor_pycat.__version__}, arbor {arbor.__version__} "
              f"(supported: {arbor_pycat.SUPPORTED_ARBOR})")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
