"""The ``classify`` subcommands: train a classifier on labelled files, and predict new files.

``openl3 classify train IN... -o MODEL`` labels files by their subfolder (or by
``--labels CSV``), embeds them into a dataset (``--dataset``, default ``MODEL``'s name
with ``.embeddings``; files already there are not embedded again), cross-validates,
and writes the model, its record ``MODEL.json``, a confusion matrix PNG and, with
``--report``, the scores as JSON. ``openl3 classify predict MODEL INPUT... -o OUT``
embeds the inputs with the model's settings and writes ``path,label,probability...``
as CSV or Parquet. The embedding flags are those of ``openl3 audio``.

A file that cannot be embedded stops either action, unless ``--skip-failed``: then it is
left out, the rest is done (and written), the files left out are named on one line of
stderr, and the command exits with 1, as ``openl3 audio`` does when a file fails.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from .._util.exceptions import OpenL3Error
from ..classify import (
    CLASSIFIERS,
    Classifier,
    Predictions,
    default_confusion,
    default_dataset,
    predict,
    train,
)
from ..classify.labels import counted, first_few
from ..classify.pooling import POOLINGS
from ..models.precision import PRECISIONS
from ..models.specs import AUDIO_TOWER, CONTENT_TYPES, FRONTENDS, IMAGE_TOWER, INPUT_REPRS
from .compat import positive_int
from .console import EXIT_FAILED, EXIT_OK, _console
from .embed import hop_size

#: The help text of a flag whose default is worth showing.
_DEFAULT = "default: %(default)s"
#: Help text of the embedding flags: their default comes from the dataset, else the library.
_FROM_DATASET = "default: the dataset's, else openl3's default"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``classify`` subcommand and its actions to the command's subparsers."""
    classify = commands.add_parser(
        "classify",
        help="train a classifier on labelled files, and predict new files",
        description="Train a scikit-learn classifier on pooled embeddings, cross-validated, and apply it "
        "to new files (needs openl3[classify]).",
    )
    actions = classify.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_train(actions)
    _add_predict(actions)


def _add_train(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "train",
        help="train, cross-validate and save a classifier",
        description="Train a classifier on files labelled by their folder (IN/<class>/<file>) or by a "
        "label file (path,label[,group][,fold]); cross-validate it (by group, else fold, else file) and "
        "save it with a confusion matrix (MODEL's name + .confusion.png).",
    )
    parser.add_argument("inputs", nargs="*", metavar="IN", help="folders whose subfolders name the classes")
    parser.add_argument("--output", "-o", required=True, metavar="MODEL", help="model file (m.skops)")
    parser.add_argument("--labels", metavar="CSV", help="a label file; IN then only restricts its files")
    parser.add_argument(
        "--dataset", metavar="OUT", help="dataset of the embeddings (default: MODEL's name + .embeddings)"
    )
    parser.add_argument("--report", metavar="REPORT.json", help="also write the scores as JSON")
    parser.add_argument("--confusion", metavar="PNG", help="the confusion matrix (default: beside MODEL)")
    parser.add_argument("--modality", default="audio", choices=("audio", "image"), help=_DEFAULT)
    model = parser.add_argument_group("classifier")
    model.add_argument("--pooling", default="mean", choices=POOLINGS, help="of windows, " + _DEFAULT)
    model.add_argument("--classifier", default="logreg", choices=CLASSIFIERS, help=_DEFAULT)
    model.add_argument("--pca", type=positive_int, metavar="N", help="reduce to N dimensions first")
    model.add_argument("--folds", type=_folds, default=5, help="cross-validation, " + _DEFAULT)
    model.add_argument("--seed", type=int, default=0, help="of splits, models; " + _DEFAULT)
    _add_embedding_options(parser)
    _add_skip_failed(parser)
    parser.set_defaults(handler=_train)


def _add_predict(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser(
        "predict",
        help="predict files with a saved classifier",
        description="Embed files with the model's own settings and write path,label,probability... "
        "(CSV or Parquet, by the output's extension).",
    )
    parser.add_argument("model", metavar="MODEL", help="a model written by openl3 classify train")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, or folders of files")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="predictions: .csv or .parquet")
    parser.add_argument("--dataset", metavar="DIR", help="keep (or read) the embeddings in this dataset")
    parser.add_argument(
        "--per-window", metavar="OUT", help="also predict each window, with timestamps (.csv or .parquet)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32, help="windows per model call")
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="the weight file of a model trained on weights that are not the official ones "
        "(default: the file its record names)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    _add_skip_failed(parser)
    parser.set_defaults(handler=_predict)


def _add_skip_failed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-failed",
        action="store_true",
        help="leave out files that cannot be embedded, do the rest, and exit with 1 (default: stop)",
    )


def _folds(value: Any) -> int:
    folds = positive_int(value)
    if folds < 2:
        raise argparse.ArgumentTypeError("cross-validation needs 2 folds or more")
    return folds


def _add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """Add the embedding flags of ``openl3 audio`` (default: the dataset's settings, else openl3's)."""
    group = parser.add_argument_group("embeddings (as openl3 audio|image)")
    group.add_argument("--input-repr", "-i", choices=tuple(INPUT_REPRS), help=_FROM_DATASET)
    group.add_argument("--content-type", "-c", choices=CONTENT_TYPES, help=_FROM_DATASET)
    group.add_argument("--precision", choices=PRECISIONS, help=_FROM_DATASET)
    group.add_argument("--audio-embedding-size", "-as", type=int, choices=AUDIO_TOWER.embedding_sizes)
    group.add_argument("--no-audio-centering", "-n", action="store_true", help="timestamps are window starts")
    group.add_argument("--audio-hop-size", "-t", type=hop_size, help="seconds between windows")
    group.add_argument("--audio-frontend", "-af", choices=FRONTENDS, help=_FROM_DATASET)
    group.add_argument("--image-embedding-size", "-is", type=int, choices=IMAGE_TOWER.embedding_sizes)
    group.add_argument(
        "--audio-weights", metavar="FILE", help="a weight file for the audio model (" + _FROM_DATASET + ")"
    )
    group.add_argument(
        "--image-weights", metavar="FILE", help="a weight file for the image model (" + _FROM_DATASET + ")"
    )
    group.add_argument("--batch-size", type=positive_int, default=32, help="per model call, " + _DEFAULT)
    group.add_argument("--quiet", "-q", action="store_true", help="print errors only")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Return the embedding settings given on the command line (None: not given)."""
    settings = {"input_repr": args.input_repr, "content_type": args.content_type, "precision": args.precision}
    if args.modality == "image":
        return {**settings, "embedding_size": args.image_embedding_size, "weights": args.image_weights}
    return {
        **settings,
        "embedding_size": args.audio_embedding_size,
        "hop_size": args.audio_hop_size,
        "center": False if args.no_audio_centering else None,
        "frontend": args.audio_frontend,
        "weights": args.audio_weights,
    }


def _train(args: argparse.Namespace) -> int:
    if not args.inputs and not args.labels:
        print("error: give folders whose subfolders name the classes, or --labels CSV", file=sys.stderr)
        return EXIT_FAILED
    return _run(
        args,
        lambda: train(
            args.inputs,
            labels=args.labels,
            modality=args.modality,
            dataset=args.dataset or default_dataset(args.output),
            model=args.output,
            report=args.report,
            confusion=args.confusion or default_confusion(args.output),
            pooling=args.pooling,
            classifier=args.classifier,
            pca=args.pca,
            folds=args.folds,
            seed=args.seed,
            batch_size=args.batch_size,
            verbose=not args.quiet,
            skip_failed=args.skip_failed,
            **_settings(args),
        ),
        lambda model: _train_summary(model, args),
    )


def _run(args: argparse.Namespace, call: Callable[[], Any], summary: Callable[[Any], str]) -> int:
    """Run ``call`` with the console of a command; print its error, or ``summary`` of its result.

    Files the result left out (``result.failed``, with ``--skip-failed``) are named on one
    line, even with ``--quiet``, and make the status 1.
    """
    try:
        with _console(args.quiet, file_failures=False):  # the error (or the summary) names them
            result = call()
    except (OpenL3Error, ImportError) as exc:
        print(f"error: {_reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if not args.quiet:
        print(summary(result))  # the results: on stdout
    if result.failed:
        print(_failed_summary(result.failed, args.action), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _failed_summary(failed: list[dict[str, str]], action: str) -> str:
    """Return the line naming the files left out (the first five, and how many more)."""
    verb = "was" if len(failed) == 1 else "were"
    left_out = f"{counted(len(failed), 'file')} could not be embedded and {verb} left out"
    return f"openl3 classify {action}: {left_out}: {first_few([item['path'] for item in failed], 5)}"


def _train_summary(model: Classifier, args: argparse.Namespace) -> str:
    """Return what a training prints: files, scores per class, where the files are."""
    report = model.report or {}
    lines = [
        f"openl3 classify train: {report.get('files')} files, {len(model.classes)} classes; "
        f"{report.get('folds')}-fold cross-validation by {report.get('split')}: "
        f"accuracy {report.get('accuracy', 0):.3f}, macro-F1 {report.get('macro_f1', 0):.3f}",
        f"  {'class':20s} precision  recall  files",
    ]
    for name, score in report.get("per_class", {}).items():
        lines.append(f"  {name:20s} {score['precision']:9.3f} {score['recall']:7.3f} {score['support']:6d}")
    png = args.confusion or default_confusion(args.output)
    lines.append(f"model: {args.output} (record {args.output}.json); confusion matrix: {png}")
    return "\n".join(lines)


def _predict(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda: predict(
            args.model,
            args.inputs,
            output=args.output,
            dataset=args.dataset,
            windows_output=args.per_window,
            batch_size=args.batch_size,
            verbose=not args.quiet,
            skip_failed=args.skip_failed,
            weights=args.weights,
        ),
        lambda result: _predict_summary(result, args),
    )


def _predict_summary(result: Predictions, args: argparse.Namespace) -> str:
    windows = "" if result.windows is None else f", {len(result.windows)} windows to {args.per_window}"
    return f"openl3 classify predict: {len(result)} files to {args.output}{windows}"


def _reason(exc: BaseException) -> str:
    """Return the message of an error, a missing package as what to install."""
    if isinstance(exc, ImportError):
        return f"{exc}: install the classify extra (pip install 'openl3[classify]')"
    return str(exc)
