"""The `deepnotes` command line: thin, it parses and calls the library.

    deepnotes tour [--quick|--full] [--out DIR]     run the course, write OUT/index.html
    deepnotes run EXPERIMENT [--quick|--full]        run one experiment
    deepnotes experiments                            list experiments
    deepnotes notebook EXPERIMENT [--out FILE]       write a Jupyter notebook that runs it
    deepnotes train MODEL --data NAME [...]          train, write OUT/summary.json
    deepnotes eval RUN_DIR [--data NAME]             evaluate a trained run
    deepnotes sample RUN_DIR [--n 64] [--out FILE]   draw from a trained generative model
    deepnotes models | summary MODEL | data | conv | plot   look things up
    deepnotes exercises                              list the exercises
    deepnotes exercise start|check|hint|grade NAME   practise one concept, graded

Each command's parser sits beside its handler, in the module of its group
(`experiments.py`, `training.py`, `lookup.py`); flags several commands share come
from the argparse parents in `common.py`; the train flags are built from
`TrainConfig`'s fields. A mistake a user can make (an unknown name, a missing
file, an impossible setting) ends in one line on stderr and a non-zero exit,
never a traceback: the argument types (`common.py`) and `TrainConfig.validate` refuse
bad values before any work, and a file system that refuses a read or a write later (a
full disk, a folder made read-only meanwhile) is one line too. Nothing here imports
torch until a command needs it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from deepnotes import __version__
from deepnotes.cli import exercises, experiments, lookup, training
from deepnotes.cli.common import Parents, Parser
from deepnotes.errors import UserError

# each group adds its commands, in the order --help lists them
GROUPS = (experiments, lookup, training, exercises)


def build_parser() -> Parser:
    """The `deepnotes` parser: one subparser per command, added by its group."""
    parser = Parser(
        prog="deepnotes", description="A deep-learning course as runnable, tested code."
    )
    parser.add_argument("--version", action="version", version=f"deepnotes {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND"
    )
    parents = Parents()
    for group in GROUPS:
        group.add_commands(commands, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # `train --devices N` hands the same arguments to torchrun
    try:
        return args.func(args) or 0
    except UserError as e:
        print(f"deepnotes {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `deepnotes models | head`: the reader left, so say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141  # 128 + SIGPIPE, as a shell reports it
    except OSError as e:  # the file system refused, after the arguments were checked
        where = f": {e.filename}" if e.filename is not None else ""
        print(f"deepnotes {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepnotes: interrupted", file=sys.stderr)
        return 130
